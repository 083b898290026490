;; relay: one query, `query:<id>:relay.v1`, that calls the method named in its input through
;; sd_call and returns the host's envelope unchanged. The same module is packaged under several
;; ids (relay-a, relay-b, …) to build call chains A → B → A and chains deeper than the limit.
;;
;; Input must be exactly {"m":"<method>","p":<payload>} (the host hands the guest compact JSON
;; in the order it was sent), so the module finds the method and payload without a JSON parser.
(module
  (import "spacedrive" "sd_call" (func $sd_call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 0) "extension.register_operation")
  (data (i32.const 64) "{\"name\":\"relay\",\"export_fn\":\"relay\",\"operation_type\":\"query\",\"description\":\"Calls {m,p} and returns the envelope\"}")

  (func (export "sd_abi_version") (result i32) (i32.const 1))

  ;; Bump allocator, 8-byte aligned, growing memory as needed; sd_free does nothing (each
  ;; instance lives for a short test).
  (func $alloc (export "sd_alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func (export "sd_free") (param i32 i32))

  (func (export "plugin_init") (result i32)
    (drop (call $sd_call (i32.const 0) (i32.const 28) (i32.const 64) (i32.const 114)))
    (i32.const 0))

  ;; {"m":"  is 6 bytes; the method runs to the next quote; then ,"p": (5 bytes); the payload
  ;; runs to the closing brace (the last byte).
  (func (export "relay") (param $ptr i32) (param $len i32) (result i64)
    (local $m i32) (local $i i32) (local $mlen i32) (local $p i32)
    (local.set $m (i32.add (local.get $ptr) (i32.const 6)))
    (local.set $i (local.get $m))
    (block $done
      (loop $scan
        (br_if $done (i32.eq (i32.load8_u (local.get $i)) (i32.const 34)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $mlen (i32.sub (local.get $i) (local.get $m)))
    (local.set $p (i32.add (local.get $i) (i32.const 6)))
    (call $sd_call
      (local.get $m) (local.get $mlen)
      (local.get $p) (i32.sub (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 1)) (local.get $p))))
)
