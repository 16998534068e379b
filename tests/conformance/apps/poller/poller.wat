;; poller: an event loop over a 500 ms timer and the input on GPIO 14 (wait_any), mirroring each
;; change of the input it takes onto GPIO 15, in order (the script presses and releases it at one
;; device time: both edges are latched, so 15 goes 1 then 0); after 8 ticks it exits with
;; edges * 100 + ticks.
(module
  (import "applibs" "gpio_open_input" (func $in (param i32) (result i32)))
  (import "applibs" "gpio_open_output" (func $out (param i32 i32) (result i32)))
  (import "applibs" "gpio_set" (func $set (param i32 i32) (result i32)))
  (import "applibs" "timer_create" (func $timer (param i32) (result i32)))
  (import "applibs" "wait" (func $wait (param i32 i32) (result i32)))
  (import "applibs" "wait_any" (func $waitAny (param i32 i32 i32) (result i32)))
  (import "applibs" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $t i32) (local $b i32) (local $led i32) (local $m i32) (local $ticks i32) (local $edges i32)
    (local.set $t (call $timer (i32.const 500)))
    (local.set $b (call $in (i32.const 14)))
    (local.set $led (call $out (i32.const 15) (i32.const 0)))
    ;; The handle array lives past the runtime's low 8 KiB.
    (i32.store (i32.const 16384) (local.get $t))
    (i32.store (i32.const 16388) (local.get $b))
    (loop $again
      (local.set $m (call $waitAny (i32.const 16384) (i32.const 2) (i32.const -1)))
      (if (i32.lt_s (local.get $m) (i32.const 0)) (then (call $exit (local.get $m))))
      (if (i32.and (local.get $m) (i32.const 2)) (then
        (drop (call $set (local.get $led) (call $wait (local.get $b) (i32.const 0))))
        (local.set $edges (i32.add (local.get $edges) (i32.const 1)))))
      (if (i32.and (local.get $m) (i32.const 1)) (then
        (local.set $ticks (i32.add (local.get $ticks) (call $wait (local.get $t) (i32.const 0))))))
      (br_if $again (i32.lt_u (local.get $ticks) (i32.const 8))))
    (call $exit (i32.add (i32.mul (local.get $edges) (i32.const 100)) (local.get $ticks)))
    (i32.const 0)))
