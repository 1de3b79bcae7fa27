;; A small Wasm program for the demo (demo.c): one page of memory, a store,
;; a load, and memory.grow.
(module
  (memory (export "memory") 1)
  (func (export "store") (param $addr i32) (param $v i32)
    (i32.store (local.get $addr) (local.get $v)))
  (func (export "load") (param $addr i32) (result i32)
    (i32.load (local.get $addr)))
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages))))
