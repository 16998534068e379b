;; prober: passes pointers at and past the end of its one page of memory, where only the host's
;; bounds checks stand between the core's copy and a clamped or wrapped one (wasmtime-py's
;; Memory.read/write clamp like a Python slice). Each result is logged as "fault" (-EFAULT) or
;; "ok"; then the bytes args_get put at the very end of memory are logged.
(module
  (import "applibs" "log" (func $log (param i32 i32) (result i32)))
  (import "applibs" "args_get" (func $args (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 16384) "faultok")
  (func $report (param $rc i32)
    (if (i32.eq (local.get $rc) (i32.const -14))
      (then (drop (call $log (i32.const 16384) (i32.const 5))))
      (else (drop (call $log (i32.const 16389) (i32.const 2))))))
  (func (export "main") (result i32)
    (call $report (call $args (i32.const 65534) (i32.const 4)))  ;; 2 bytes past the end
    (call $report (call $args (i32.const -2) (i32.const 4)))     ;; wraps around 2^32
    (call $report (call $args (i32.const 65532) (i32.const 4)))  ;; exactly the last 4 bytes
    (call $report (call $log (i32.const -1) (i32.const 2)))
    (call $report (call $log (i32.const 65536) (i32.const 0)))   ;; empty, at the end: fine
    (drop (call $log (i32.const 65532) (i32.const 4)))           ;; "abc\0"
    (i32.const 0)))
