;; Grows memory in steps: from 1 page by `step` pages up to `pages` pages,
;; writing one word into every 4 KiB of each new step (so every new page is
;; committed) and reading the previous step back; returns the final size.
(module
  (memory (export "memory") 1)
  (func (export "run") (param $pages i32) (param $step i32) (result i32)
    (local $old i32) (local $a i32) (local $end i32) (local $sum i32)
    (block $done
      (loop $g
        (br_if $done (i32.ge_u (memory.size) (local.get $pages)))
        (local.set $old (memory.grow (local.get $step)))
        (br_if $done (i32.eq (local.get $old) (i32.const -1)))
        (local.set $a (i32.shl (local.get $old) (i32.const 16)))
        (local.set $end (i32.shl (memory.size) (i32.const 16)))
        (loop $w
          (i32.store (local.get $a) (local.get $a))
          (local.set $a (i32.add (local.get $a) (i32.const 4096)))
          (br_if $w (i32.lt_u (local.get $a) (local.get $end))))
        (local.set $sum (i32.add (local.get $sum) (i32.load (i32.shl (local.get $old) (i32.const 16)))))
        (br $g)))
    (i32.add (memory.size) (i32.and (local.get $sum) (i32.const 0)))))
