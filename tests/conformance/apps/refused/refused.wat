;; refused: never runs: its manifest claims GPIO 200, which the device does not have, so the core
;; refuses the install (ENODEV) before the host looks at this module.
(module
  (memory (export "memory") 1)
  (func (export "main") (result i32) (i32.const 0)))
