;; Matrix multiply: C = A x B for n x n f64 matrices (n <= 256) at 0, 512 KiB
;; and 1 MiB; naive i-k-j loops; returns the trace of C.
(module
  (memory (export "memory") 24)
  (func (export "run") (param $n i32) (result f64)
    (local $i i32) (local $j i32) (local $k i32) (local $a f64) (local $t f64)
    (local $row i32)
    ;; A[i][j] = i + j, B[i][j] = i - j + 1, C = 0
    (local.set $i (i32.const 0))
    (loop $li
      (local.set $j (i32.const 0))
      (loop $lj
        (local.set $row (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
        (f64.store (local.get $row) (f64.convert_i32_s (i32.add (local.get $i) (local.get $j))))
        (f64.store offset=0x80000 (local.get $row) (f64.convert_i32_s (i32.add (i32.sub (local.get $i) (local.get $j)) (i32.const 1))))
        (f64.store offset=0x100000 (local.get $row) (f64.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $lj (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $li (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $mi
      (local.set $k (i32.const 0))
      (loop $mk
        (local.set $a (f64.load (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 3))))
        (local.set $j (i32.const 0))
        (loop $mj
          (local.set $row (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
          (f64.store offset=0x100000 (local.get $row)
            (f64.add (f64.load offset=0x100000 (local.get $row))
              (f64.mul (local.get $a)
                (f64.load offset=0x80000
                  (i32.shl (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j)) (i32.const 3))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $mj (i32.lt_u (local.get $j) (local.get $n))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $mk (i32.lt_u (local.get $k) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $mi (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $tr
      (local.set $t (f64.add (local.get $t)
        (f64.load offset=0x100000 (i32.shl (i32.mul (local.get $i) (i32.add (local.get $n) (i32.const 1))) (i32.const 3)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $tr (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $t)))
