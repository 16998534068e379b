;; clock: the device's UTC clock on every host. It sleeps 500 ms, sets the clock (SystemTime) to
;; 2026-01-01T00:00:00Z (audited as EV_TIME_SET), sleeps 250 ms, reads it back and exits with the
;; milliseconds it read past the time it set (250: the clock ran on from the set time), or with
;; time_set's error.
(module
  (import "applibs" "time_get" (func $get (param i32) (result i32)))
  (import "applibs" "time_set" (func $set (param i32) (result i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (import "applibs" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $rc i32)
    (drop (call $sleep (i32.const 500)))
    (i64.store (i32.const 16384) (i64.const 1767225600000))
    (local.set $rc (call $set (i32.const 16384)))
    (if (i32.ne (local.get $rc) (i32.const 0)) (then (call $exit (local.get $rc))))
    (drop (call $sleep (i32.const 250)))
    (drop (call $get (i32.const 16384)))
    (call $exit (i32.wrap_i64 (i64.sub (i64.load (i32.const 16384)) (i64.const 1767225600000))))
    (i32.const 0)))
