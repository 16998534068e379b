;; exiter: logs a line with bytes outside printable ASCII (a tab, a quote, UTF-8 "é", a lone 0xff),
;; sleeps 700 ms, then calls exit(3).
(module
  (import "applibs" "log" (func $log (param i32 i32) (result i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (import "applibs" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16384) "bye\t\"caf\c3\a9\"\ff")
  (func (export "main") (result i32)
    (drop (call $log (i32.const 16384) (i32.const 12)))
    (drop (call $sleep (i32.const 700)))
    (call $exit (i32.const 3))
    (i32.const 0)))
