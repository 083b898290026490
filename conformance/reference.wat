;; The conformance reference extension (conformance/README.md): what an SDK's output must do to
;; pass `spacedrive extension conformance`. Hand-written against docs/extension-abi.md only.
;;
;;   query  echo    output = input, byte for byte
;;   query  fail    sd_error {"code":"NOT_FOUND","message":"conformance: not found"}, returns 0
;;   action call    input ["<method>", <payload>]: sd_call(method, payload); output = the envelope
;;   action log     sd_log(info, <the input's JSON text>); returns 0 (null)
;;   job    steps   resumable; params {"steps": n}; from state {"done": d} (0 on a first run) it
;;                  reports {"state":{"done":d+1}} per step, returns {"status":"interrupted",
;;                  "state":{"done":k}} when a report is answered pause or cancel, and
;;                  {"status":"completed","output":{"done":n}} at the end
;;
;; Strings in the data segment end in a NUL byte. The allocator is a bump pointer that releases
;; the most recent allocation on sd_free (the host frees a call's output before its input).
(module
  (import "spacedrive" "sd_call" (func $sd_call (param i32 i32 i32 i32) (result i64)))
  (import "spacedrive" "sd_log" (func $sd_log (param i32 i32 i32)))
  (import "spacedrive" "sd_error" (func $sd_error (param i32 i32)))
  (import "spacedrive" "sd_job_progress" (func $sd_job_progress (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 16384))

  (data (i32.const 1024) "extension.register_operation\00")
  (data (i32.const 1088) "extension.register_job\00")
  (data (i32.const 1152) "{\"code\":\"NOT_FOUND\",\"message\":\"conformance: not found\"}\00")
  (data (i32.const 1280) "\"steps\":\00")
  (data (i32.const 1296) "\"done\":\00")
  (data (i32.const 1312) "{\"state\":{\"done\":\00")
  (data (i32.const 1344) "{\"status\":\"interrupted\",\"state\":{\"done\":\00")
  (data (i32.const 1408) "{\"status\":\"completed\",\"output\":{\"done\":\00")
  (data (i32.const 1472) "\"state\":\00")
  (data (i32.const 2048) "{\"name\":\"echo\",\"export_fn\":\"echo\",\"operation_type\":\"query\",\"description\":\"returns its input\"}\00")
  (data (i32.const 2176) "{\"name\":\"fail\",\"export_fn\":\"fail\",\"operation_type\":\"query\",\"description\":\"fails with NOT_FOUND\"}\00")
  (data (i32.const 2304) "{\"name\":\"call\",\"export_fn\":\"call\",\"operation_type\":\"action\",\"description\":\"calls the host\"}\00")
  (data (i32.const 2432) "{\"name\":\"log\",\"export_fn\":\"log\",\"operation_type\":\"action\",\"description\":\"logs its input\"}\00")
  (data (i32.const 2560) "{\"name\":\"steps\",\"export_fn\":\"steps\",\"resumable\":true,\"description\":\"counts steps, one checkpoint each\"}\00")

  (func (export "sd_abi_version") (result i32) (i32.const 1))

  (func $alloc (export "sd_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $top))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $top (local.get $end))
    (local.get $p))

  (func $free (export "sd_free") (param $p i32) (param $n i32)
    (if (i32.eq (i32.add (local.get $p) (local.get $n)) (global.get $top))
      (then (global.set $top (local.get $p)))))

  (func $strlen (param $p i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.extend_i32_u (local.get $p)) (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))))

  (func $free_packed (param $r i64)
    (call $free (i32.wrap_i64 (local.get $r)) (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))))

  (func $register (param $method i32) (param $json i32)
    (call $free_packed
      (call $sd_call (local.get $method) (call $strlen (local.get $method)) (local.get $json) (call $strlen (local.get $json)))))

  (func (export "plugin_init") (result i32)
    (call $register (i32.const 1024) (i32.const 2048))
    (call $register (i32.const 1024) (i32.const 2176))
    (call $register (i32.const 1024) (i32.const 2304))
    (call $register (i32.const 1024) (i32.const 2432))
    (call $register (i32.const 1088) (i32.const 2560))
    (i32.const 0))

  ;; echo: a copy of the input.
  (func (export "echo") (param $p i32) (param $n i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (local.get $n)))
    (if (i32.eqz (local.get $out)) (then unreachable))
    (memory.copy (local.get $out) (local.get $p) (local.get $n))
    (call $pack (local.get $out) (local.get $n)))

  ;; fail: NOT_FOUND through sd_error.
  (func (export "fail") (param $p i32) (param $n i32) (result i64)
    (call $sd_error (i32.const 1152) (call $strlen (i32.const 1152)))
    (i64.const 0))

  ;; call: input ["<method>",<payload>] (no space after the comma); returns sd_call's envelope.
  (func (export "call") (param $p i32) (param $n i32) (result i64)
    (local $m i32) (local $i i32) (local $pl i32)
    (local.set $m (i32.add (local.get $p) (i32.const 2)))
    (block $done
      (loop $scan
        (br_if $done (i32.eq (i32.load8_u (i32.add (local.get $m) (local.get $i))) (i32.const 34)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $pl (i32.add (local.get $m) (i32.add (local.get $i) (i32.const 2))))
    (call $sd_call (local.get $m) (local.get $i) (local.get $pl)
      (i32.sub (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 1)) (local.get $pl))))

  ;; log: the input's JSON text as an info line.
  (func (export "log") (param $p i32) (param $n i32) (result i64)
    (call $sd_log (i32.const 2) (local.get $p) (local.get $n))
    (i64.const 0))

  ;; Index of the NUL-terminated $needle in [$p, $p+$n), or -1.
  (func $find (param $p i32) (param $n i32) (param $needle i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32)
    (local.set $k (call $strlen (local.get $needle)))
    (block $none
      (loop $at
        (br_if $none (i32.gt_s (i32.add (local.get $i) (local.get $k)) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $cmp
            (if (i32.eq (local.get $j) (local.get $k)) (then (return (local.get $i))))
            (br_if $mismatch
              (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $i) (local.get $j))))
                      (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cmp)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $at)))
    (i32.const -1))

  ;; The non-negative integer right after the key $key (NUL-terminated, e.g. `"done":`) found at
  ;; or after offset $from in [$p, $p+$n); 0 when the key is absent.
  (func $int_after (param $p i32) (param $n i32) (param $from i32) (param $key i32) (result i32)
    (local $at i32) (local $acc i32) (local $c i32)
    (if (i32.lt_s (local.get $from) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $at (call $find (i32.add (local.get $p) (local.get $from)) (i32.sub (local.get $n) (local.get $from)) (local.get $key)))
    (if (i32.lt_s (local.get $at) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $at (i32.add (i32.add (local.get $from) (local.get $at)) (call $strlen (local.get $key))))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_s (local.get $at) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $at))))
        (br_if $done (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $digit)))
    (local.get $acc))

  ;; Writes "<prefix><v>}" (plus one more "}" when $close2) at $out; returns the length.
  (func $write_json (param $out i32) (param $prefix i32) (param $v i32) (param $close2 i32) (result i32)
    (local $len i32) (local $digits i32) (local $t i32) (local $i i32)
    (local.set $len (call $strlen (local.get $prefix)))
    (memory.copy (local.get $out) (local.get $prefix) (local.get $len))
    ;; count the digits of $v
    (local.set $t (local.get $v))
    (local.set $digits (i32.const 1))
    (block $counted
      (loop $count
        (br_if $counted (i32.lt_u (local.get $t) (i32.const 10)))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (br $count)))
    ;; write them from the last
    (local.set $t (local.get $v))
    (local.set $i (local.get $digits))
    (block $written
      (loop $write
        (br_if $written (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (i32.store8 (i32.add (local.get $out) (i32.add (local.get $len) (local.get $i)))
          (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (br $write)))
    (local.set $len (i32.add (local.get $len) (local.get $digits)))
    (i32.store8 (i32.add (local.get $out) (local.get $len)) (i32.const 125))
    (local.set $len (i32.add (local.get $len) (i32.const 1)))
    (if (local.get $close2)
      (then
        (i32.store8 (i32.add (local.get $out) (local.get $len)) (i32.const 125))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))))
    (local.get $len))

  ;; steps: the resumable job.
  (func (export "steps") (param $p i32) (param $n i32) (result i64)
    (local $steps i32) (local $done i32) (local $buf i32) (local $len i32) (local $answer i32)
    (local.set $steps (call $int_after (local.get $p) (local.get $n) (i32.const 0) (i32.const 1280)))
    ;; "done" is read only inside "state" (null on a first run: no "done" after it)
    (local.set $done (call $int_after (local.get $p) (local.get $n)
      (call $find (local.get $p) (local.get $n) (i32.const 1472)) (i32.const 1296)))
    (local.set $buf (call $alloc (i32.const 64)))
    (block $finished
      (loop $step
        (br_if $finished (i32.ge_u (local.get $done) (local.get $steps)))
        (local.set $done (i32.add (local.get $done) (i32.const 1)))
        (local.set $len (call $write_json (local.get $buf) (i32.const 1312) (local.get $done) (i32.const 1)))
        (local.set $answer (call $sd_job_progress (local.get $buf) (local.get $len)))
        (if (i32.ne (local.get $answer) (i32.const 0))
          (then
            (local.set $len (call $write_json (local.get $buf) (i32.const 1344) (local.get $done) (i32.const 1)))
            (global.set $top (i32.add (local.get $buf) (local.get $len)))
            (return (call $pack (local.get $buf) (local.get $len)))))
        (br $step)))
    (local.set $len (call $write_json (local.get $buf) (i32.const 1408) (local.get $steps) (i32.const 1)))
    (global.set $top (i32.add (local.get $buf) (local.get $len)))
    (call $pack (local.get $buf) (local.get $len)))
)
