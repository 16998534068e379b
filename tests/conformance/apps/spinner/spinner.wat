;; spinner: bursts of busy work that never yield (about 3 M instructions, more than one slice of
;; fuel, so the host must preempt it), then a 250 ms sleep, forever.
(module
  (import "applibs" "log" (func $log (param i32 i32) (result i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16384) "burst done")
  (func (export "main") (result i32)
    (local $i i32)
    (loop $forever
      (local.set $i (i32.const 0))
      (loop $spin
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $spin (i32.lt_u (local.get $i) (i32.const 600000))))
      (drop (call $log (i32.const 16384) (i32.const 10)))
      (drop (call $sleep (i32.const 250)))
      (br $forever))
    (i32.const 0)))
