;; trapper: logs, sleeps 100 ms, then divides by zero: a trap that ends its instance only; the
;; core's restart policy starts it again after a backoff.
(module
  (import "applibs" "log" (func $log (param i32 i32) (result i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16384) "about to trap")
  (func (export "main") (result i32)
    (drop (call $log (i32.const 16384) (i32.const 13)))
    (drop (call $sleep (i32.const 100)))
    (i32.div_u (i32.const 1) (i32.sub (i32.const 1) (i32.const 1)))))
