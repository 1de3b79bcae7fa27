;; Hash table with random probes: 2^21 slots of (key i32, value i32) = 16 MiB,
;; open addressing with linear probing; inserts `n` pseudo-random keys
;; (xorshift32), then looks each of them up again; returns the sum of the
;; values found.
(module
  (memory (export "memory") 256)
  (global $x (mut i32) (i32.const 0))
  (func $next (result i32)
    (local $v i32)
    (local.set $v (global.get $x))
    (local.set $v (i32.xor (local.get $v) (i32.shl (local.get $v) (i32.const 13))))
    (local.set $v (i32.xor (local.get $v) (i32.shr_u (local.get $v) (i32.const 17))))
    (local.set $v (i32.xor (local.get $v) (i32.shl (local.get $v) (i32.const 5))))
    (global.set $x (local.get $v))
    (i32.or (local.get $v) (i32.const 1)))
  (func $slot (param $k i32) (result i32)
    ;; multiplicative hash to 21 bits, times 8 bytes
    (i32.shl (i32.shr_u (i32.mul (local.get $k) (i32.const 0x9e3779b1)) (i32.const 11))
             (i32.const 3)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $k i32) (local $a i32) (local $sum i32)
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 0x1000000))
    (global.set $x (i32.const 2463534242))
    (local.set $i (i32.const 0))
    (loop $ins
      (local.set $k (call $next))
      (local.set $a (call $slot (local.get $k)))
      (block $found
        (loop $probe
          (br_if $found (i32.eqz (i32.load (local.get $a))))
          (br_if $found (i32.eq (i32.load (local.get $a)) (local.get $k)))
          (local.set $a (i32.and (i32.add (local.get $a) (i32.const 8)) (i32.const 0xffffff)))
          (br $probe)))
      (i32.store (local.get $a) (local.get $k))
      (i32.store offset=4 (local.get $a) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $ins (i32.lt_u (local.get $i) (local.get $n))))
    (global.set $x (i32.const 2463534242))
    (local.set $i (i32.const 0))
    (loop $look
      (local.set $k (call $next))
      (local.set $a (call $slot (local.get $k)))
      (block $found
        (loop $probe
          (br_if $found (i32.eq (i32.load (local.get $a)) (local.get $k)))
          (local.set $a (i32.and (i32.add (local.get $a) (i32.const 8)) (i32.const 0xffffff)))
          (br $probe)))
      (local.set $sum (i32.add (local.get $sum) (i32.load offset=4 (local.get $a))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $look (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $sum)))
