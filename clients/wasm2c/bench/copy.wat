;; Byte-copy loop: copies 1 MiB byte by byte (i32.load8_u / i32.store8),
;; `reps` times, adding the round number so no round can be skipped.
(module
  (memory (export "memory") 64)
  (func (export "run") (param $reps i32) (result i32)
    (local $i i32) (local $r i32) (local $sum i32)
    (local.set $i (i32.const 0))
    (loop $init
      (i32.store8 (local.get $i) (i32.mul (local.get $i) (i32.const 31)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 0x100000))))
    (local.set $r (i32.const 0))
    (loop $round
      (local.set $i (i32.const 0))
      (loop $copy
        (i32.store8 offset=0x200000 (local.get $i)
          (i32.add (i32.load8_u (local.get $i)) (local.get $r)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $copy (i32.lt_u (local.get $i) (i32.const 0x100000))))
      (local.set $sum (i32.add (local.get $sum)
        (i32.load8_u offset=0x200000 (i32.and (i32.mul (local.get $r) (i32.const 4099)) (i32.const 0xfffff)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $round (i32.lt_u (local.get $r) (local.get $reps))))
    (local.get $sum)))
