(* Unit tests of the contract library, one group per module: `dune test --root common/ocaml`. *)
open Bigarray
open Contract

(* ---------------------------------------------------------------- helpers *)
let temp_dir () =
  let dir = Filename.temp_file "contract-test-" "" in
  Sys.remove dir;
  Sys.mkdir dir 0o755;
  dir

let write_file path bytes =
  let oc = open_out_bin path in
  Fun.protect ~finally:(fun () -> close_out oc) (fun () -> output_string oc bytes)

let read_file path =
  let ic = open_in_bin path in
  Fun.protect ~finally:(fun () -> close_in ic) (fun () -> really_input_string ic (in_channel_length ic))

let write_gz path bytes =
  let oc = Gzip.open_out path in
  Gzip.output_substring oc bytes 0 (String.length bytes);
  Gzip.close_out oc

let be32 n = let b = Bytes.create 4 in Bytes.set_int32_be b 0 (Int32.of_int n); Bytes.to_string b

let idx_images ?(magic = 0x803) ?(rows = 28) ?(cols = 28) ?payload count =
  let payload = match payload with Some p -> p | None -> String.init (count * rows * cols) (fun i -> Char.chr (i mod 256)) in
  be32 magic ^ be32 count ^ be32 rows ^ be32 cols ^ payload

let idx_labels ?(magic = 0x801) labels = be32 magic ^ be32 (List.length labels) ^ String.concat "" (List.map (fun l -> String.make 1 (Char.chr l)) labels)

(* Captures what a sink (Log.sink, Progress.sink) receives while f runs. *)
let capture sink f =
  let lines = ref [] and saved = !sink in
  sink := (fun line -> lines := line :: !lines);
  Fun.protect ~finally:(fun () -> sink := saved) f;
  List.rev !lines

(* The message of the Usage_error or Data_error that f raises. *)
let error_of f =
  match f () with
  | _ -> Alcotest.fail "expected an error"
  | exception Errors.Usage_error msg -> msg
  | exception Errors.Data_error msg -> msg

let check_error name expected f = Alcotest.(check string) name expected (error_of f)

let contains ~sub s =
  let n = String.length sub in
  let rec at i = i + n <= String.length s && (String.sub s i n = sub || at (i + 1)) in
  at 0

let check_mentions name sub f =
  let msg = error_of f in
  if not (contains ~sub msg) then Alcotest.failf "%s: %S does not mention %S" name msg sub

(* ---------------------------------------------------------------- Cli *)
let parse args =
  let cfg = ref None in
  ignore (capture Progress.sink (fun () -> cfg := Some (Cli.parse ~argv:(Array.of_list ("main.exe" :: args)) ~row:"test" ~doc:"test" ())));
  Option.get !cfg

let test_defaults () =
  Unix.putenv "MNIST_DATA_DIR" "";
  let cfg = parse [] in
  Alcotest.(check string) "dataset" "mnist" cfg.dataset;
  Alcotest.(check string) "data_dir" "data" cfg.data_dir;
  Alcotest.(check (list int)) "ints" [ 5; 128; 0; 50_000 ] [ cfg.epochs; cfg.batch_size; cfg.seed; cfg.limit_train ];
  Alcotest.(check (float 0.)) "lr" 0.05 cfg.lr;
  Alcotest.(check (float 0.)) "momentum" 0.9 cfg.momentum;
  Alcotest.(check bool) "shuffle" true cfg.shuffle;
  Alcotest.(check bool) "no files" true (cfg.init = None && cfg.save = None && cfg.predict = None)

let test_values () =
  let cfg =
    parse [ "--dataset"; "fashion-mnist"; "--epochs=2"; "--batch-size"; "+64"; "--lr"; "5e-2"; "--momentum"; ".5";
            "--seed"; "4294967295"; "--limit-train"; "100"; "--no-shuffle"; "--load"; "w.safetensors"; "--data-dir"; "d" ]
  in
  Alcotest.(check string) "dataset" "fashion-mnist" cfg.dataset;
  Alcotest.(check (list int)) "ints" [ 2; 64; 4294967295; 100 ] [ cfg.epochs; cfg.batch_size; cfg.seed; cfg.limit_train ];
  Alcotest.(check (float 0.)) "lr" 0.05 cfg.lr;
  Alcotest.(check (float 0.)) "momentum" 0.5 cfg.momentum;
  Alcotest.(check bool) "no shuffle" false cfg.shuffle;
  Alcotest.(check (option string)) "--load is --init" (Some "w.safetensors") cfg.init;
  Alcotest.(check string) "data_dir" "d" cfg.data_dir;
  Alcotest.(check int) "the last of a repeated flag counts" 3 (parse [ "--epochs"; "1"; "--epochs"; "3" ]).epochs

let test_data_dir_from_environment () =
  Unix.putenv "MNIST_DATA_DIR" "/from/env";
  Alcotest.(check string) "env" "/from/env" (parse []).data_dir;
  Alcotest.(check string) "flag first" "flag" (parse [ "--data-dir"; "flag" ]).data_dir;
  Unix.putenv "MNIST_DATA_DIR" ""

let test_progress_start () =
  let lines = capture Progress.sink (fun () -> ignore (Cli.parse ~argv:[| "main.exe" |] ~row:"ocaml" ~doc:"" ())) in
  Alcotest.(check (list string)) "start" [ "event=progress stage=start row=ocaml" ] lines

let bad_flags =
  [ ([ "--batch-size"; "-5" ], "--batch-size must be an integer >= 1, got -5 (see --help)");
    ([ "--batch-size"; "0" ], "--batch-size must be an integer >= 1, got 0 (see --help)");
    ([ "--lr"; "abc" ], "--lr must be a number > 0, got abc (see --help)");
    ([ "--lr"; "-0.1" ], "--lr must be a number > 0, got -0.1 (see --help)");
    ([ "--lr"; "inf" ], "--lr must be a number > 0, got inf (see --help)");
    ([ "--lr"; "0x10" ], "--lr must be a number > 0, got 0x10 (see --help)");
    ([ "--momentum"; "1" ], "--momentum must be a number in [0, 1), got 1 (see --help)");
    ([ "--epochs"; "1.5" ], "--epochs must be an integer >= 0, got 1.5 (see --help)");
    ([ "--epochs"; "1_0" ], "--epochs must be an integer >= 0, got 1_0 (see --help)");
    ([ "--seed"; "4294967296" ], "--seed must be an integer in 0..4294967295, got 4294967296 (see --help)");
    ([ "--limit-train"; "50001" ], "--limit-train must be an integer in 1..50000, got 50001 (see --help)");
    ([ "--dataset"; "cifar10" ], "--dataset must be one of mnist, fashion-mnist, got cifar10 (see --help)");
    ([ "--epochs" ], "option '--epochs' needs an argument (see --help)");
    ([ "--epochs"; "--no-shuffle" ], "option '--epochs' needs an argument (see --help)");
    ([ "--bogus" ], "unknown option '--bogus' (see --help)");
    ([ "--batch"; "5" ], "unknown option '--batch' (see --help)");
    ([ "extra" ], "too many arguments, don't know what to do with 'extra' (see --help)");
    ([ "--init"; "a"; "--load"; "b" ], "--init and --load are the same option; give only one");
    ([ "--predict"; "x.idx" ], "--predict needs the weights to classify with: add --load FILE");
    ([ "--save"; "/nonexistent/dir/w.safetensors" ], "--save: directory /nonexistent/dir does not exist") ]

let test_bad_flags () =
  List.iter (fun (args, expected) -> check_error (String.concat " " args) expected (fun () -> parse args)) bad_flags

(* ---------------------------------------------------------------- Data *)
let test_parse_images () =
  let images = Data.parse_images "x" (idx_images 2) in
  Alcotest.(check (pair int int)) "shape" (2, 784) (Array2.dim1 images, Array2.dim2 images);
  Alcotest.(check (float 0.)) "pixel 0" 0. images.{0, 0};
  Alcotest.(check (float 0.)) "pixel 255" 1. images.{0, 255};
  Alcotest.(check (float 1e-7)) "second image" (float_of_int (784 mod 256) /. 255.) images.{1, 0};
  Alcotest.(check int) "no images" 0 (Array2.dim1 (Data.parse_images "x" (idx_images 0)))

let test_bad_images () =
  check_error "short header" "x: too short for an IDX image header (8 bytes)" (fun () -> Data.parse_images "x" (String.make 8 '\000'));
  check_error "magic" "x: not an IDX image file (magic 0x00000801, expected 0x00000803)" (fun () ->
      Data.parse_images "x" (idx_images ~magic:0x801 1));
  check_error "size" "x: images are 28x27, expected 28x28" (fun () -> Data.parse_images "x" (idx_images ~cols:27 1));
  check_error "payload" "x: header says 2 images, but holds 1567 pixel bytes (expected 1568)" (fun () ->
      Data.parse_images "x" (idx_images ~payload:(String.make 1567 'a') 2))

let test_labels () =
  Alcotest.(check (array int)) "labels" [| 7; 0; 9 |] (Data.parse_labels "y" (idx_labels [ 7; 0; 9 ]));
  check_error "magic" "y: not an IDX label file (magic 0x00000803, expected 0x00000801)" (fun () ->
      Data.parse_labels "y" (idx_labels ~magic:0x803 [ 1 ]));
  check_error "short" "y: too short for an IDX label header (4 bytes)" (fun () -> Data.parse_labels "y" "abcd");
  check_error "count" "y: header says 3 labels, but holds 2 bytes" (fun () ->
      Data.parse_labels "y" (String.sub (idx_labels [ 1; 2; 3 ]) 0 10));
  check_error "range" "y: label 10 is out of range 0-9" (fun () -> Data.parse_labels "y" (idx_labels [ 1; 10 ]))

let test_files () =
  let dir = temp_dir () in
  let plain = Filename.concat dir "plain.idx" and gz = Filename.concat dir "images.idx.gz" in
  write_file plain (idx_images 3);
  write_gz gz (idx_images 3);
  Alcotest.(check int) "plain --predict file" 3 (Array2.dim1 (Data.read_images plain));
  Alcotest.(check int) "gzip --predict file" 3 (Array2.dim1 (Data.read_images gz));
  let whole = read_file gz in
  let truncated = Filename.concat dir "truncated.gz" in
  write_file truncated (String.sub whole 0 (String.length whole - 10));
  check_mentions "truncated gzip" "truncated.gz: not a valid gzip file" (fun () -> Data.read_images truncated);
  let missing = Filename.concat dir "missing.idx" in
  check_error "missing" (missing ^ ": file not found") (fun () -> Data.read_images missing);
  check_mentions "not gzip" "plain.idx: not a valid gzip file" (fun () -> Data.read_split dir "plain.idx" "x" 3);
  check_error "directory" (dir ^ ": cannot read (is a directory)") (fun () -> Data.read_images dir)

let test_split_counts () =
  let dir = temp_dir () in
  write_gz (Filename.concat dir "i.gz") (idx_images 3);
  write_gz (Filename.concat dir "l.gz") (idx_labels [ 1; 2 ]);
  check_error "counts" (Filename.concat dir "i.gz" ^ ": holds 3 images and l.gz 2 labels, expected 3 of each") (fun () ->
      Data.read_split dir "i.gz" "l.gz" 3);
  write_gz (Filename.concat dir "l.gz") (idx_labels [ 1; 2; 3 ]);
  let x, y = Data.read_split dir "i.gz" "l.gz" 3 in
  Alcotest.(check (pair int int)) "read" (3, 3) (Array2.dim1 x, Array.length y)

let test_missing_data_dir () =
  Unix.putenv "MNIST_DATA_DIR" "";
  let cfg = { (parse []) with data_dir = "/nonexistent" } in
  let lines = ref [] in
  let msg = error_of (fun () -> lines := capture Progress.sink (fun () -> ignore (Data.load cfg))) in
  Alcotest.(check bool) "names the directory" true (contains ~sub:"data directory /nonexistent/mnist not found" msg)

let test_epoch_order () =
  let cfg = parse [] in
  let order = Data.epoch_order cfg (Random.State.make [| 0 |]) 100 in
  Alcotest.(check (array int)) "a permutation" (Array.init 100 Fun.id) (Array.of_list (List.sort compare (Array.to_list order)));
  Alcotest.(check bool) "shuffled" true (order <> Array.init 100 Fun.id);
  let again = Data.epoch_order cfg (Random.State.make [| 0 |]) 100 in
  Alcotest.(check (array int)) "same seed, same order" order again;
  let fixed = Data.epoch_order { cfg with shuffle = false } (Random.State.make [| 0 |]) 5 in
  Alcotest.(check (array int)) "--no-shuffle" [| 0; 1; 2; 3; 4 |] fixed

(* ---------------------------------------------------------------- Weights *)
let random_layers () =
  let rng = Random.State.make [| 42 |] in
  List.map
    (fun (_, fan_in, fan_out) ->
      let w = Array2.create float32 c_layout fan_out fan_in and b = Array1.create float32 c_layout fan_out in
      for i = 0 to fan_out - 1 do
        for j = 0 to fan_in - 1 do w.{i, j} <- Random.State.float rng 2. -. 1. done;
        b.{i} <- Random.State.float rng 2. -. 1.
      done;
      (w, b))
    Weights.layers

let test_round_trip () =
  let path = Filename.concat (temp_dir ()) "w.safetensors" in
  let layers = random_layers () in
  Weights.save path layers;
  let bytes = read_file path in
  let header_len = Int64.to_int (String.get_int64_le bytes 0) in
  Alcotest.(check int) "header padded to 8 bytes" 0 (header_len mod 8);
  Alcotest.(check int) "size" (8 + header_len + (4 * 669_706)) (String.length bytes);
  List.iter2
    (fun (w, b) (w', b') ->
      Alcotest.(check bool) "weight" true (w = w');
      Alcotest.(check bool) "bias" true (b = b'))
    layers (Weights.load path)

(* A safetensors file from (name, dtype, shape) entries, each with zeroed data of its size. *)
let safetensors ?header entries =
  let width dtype = Option.value ~default:4 (List.assoc_opt dtype Weights.dtype_sizes) in
  let offset = ref 0 in
  let json =
    List.map
      (fun (name, dtype, shape) ->
        let size = width dtype * List.fold_left ( * ) 1 shape in
        let entry =
          Printf.sprintf "%S:{\"dtype\":%S,\"shape\":[%s],\"data_offsets\":[%d,%d]}" name dtype
            (String.concat "," (List.map string_of_int shape)) !offset (!offset + size)
        in
        offset := !offset + size;
        entry)
      entries
  in
  let header = match header with Some h -> h | None -> "{" ^ String.concat "," json ^ "}" in
  let len = Bytes.create 8 in
  Bytes.set_int64_le len 0 (Int64.of_int (String.length header));
  Bytes.to_string len ^ header ^ String.make !offset '\000'

let contract_entries = List.map (fun (name, shape) -> (name, "F32", shape)) Weights.tensor_shapes

let test_bad_weights () =
  let dir = temp_dir () in
  let case name bytes expected =
    let path = Filename.concat dir (name ^ ".safetensors") in
    write_file path bytes;
    check_error name (path ^ ": " ^ expected) (fun () -> Weights.load path)
  in
  let replace name entry = List.map (fun ((n, _, _) as e) -> if n = name then entry else e) contract_entries in
  ignore (Weights.load (let p = Filename.concat dir "good.safetensors" in write_file p (safetensors contract_entries); p));
  check_error "missing" "/nonexistent.safetensors: weights file not found" (fun () -> Weights.load "/nonexistent.safetensors");
  case "short" "abc" "not a safetensors file (shorter than its 8-byte header length)";
  case "garbage" (String.make 64 '\255') "not a safetensors file (header length 18446744073709551615 exceeds the file)";
  let not_json = Filename.concat dir "not-json.safetensors" in
  write_file not_json (safetensors ~header:"{nope" []);
  check_mentions "not JSON" "not a safetensors file (header is not valid JSON: " (fun () -> Weights.load not_json);
  case "not-object" (safetensors ~header:"[1]" []) "not a safetensors file (header is not a JSON object)";
  case "lacks" (safetensors (List.filter (fun (n, _, _) -> n <> "fc3.bias") contract_entries)) "weights file lacks tensor fc3.bias";
  case "extra" (safetensors (contract_entries @ [ ("fc4.bias", "F32", [ 10 ]) ])) "weights file has unexpected tensor fc4.bias";
  case "dtype" (safetensors (replace "fc1.bias" ("fc1.bias", "F64", [ 512 ]))) "tensor fc1.bias is F64, expected F32";
  case "shape" (safetensors (replace "fc2.weight" ("fc2.weight", "F32", [ 512; 511 ]))) "tensor fc2.weight has shape [512, 511], expected [512, 512]";
  case "dtype-unknown" (safetensors (replace "fc1.bias" ("fc1.bias", "F33", [ 512 ])))
    "not a safetensors file (tensor fc1.bias has unknown dtype F33)"

let test_bad_offsets () =
  let dir = temp_dir () in
  let case name header data expected =
    let path = Filename.concat dir (name ^ ".safetensors") in
    let len = Bytes.create 8 in
    Bytes.set_int64_le len 0 (Int64.of_int (String.length header));
    write_file path (Bytes.to_string len ^ header ^ data);
    check_error name (path ^ ": not a safetensors file (" ^ expected ^ ")") (fun () -> Weights.load path)
  in
  case "lying" {|{"fc1.weight":{"dtype":"F32","shape":[512,784],"data_offsets":[0,1099511627776]}}|} (String.make 16 '\000')
    "tensor fc1.weight: data_offsets outside the data";
  case "mismatch" {|{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}|} (String.make 4 '\000')
    "tensor a: data_offsets do not match its shape and dtype";
  case "gap" {|{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}|} (String.make 8 '\000')
    "tensors do not cover the data buffer exactly";
  case "twice" {|{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}|}
    (String.make 8 '\000') "a tensor name appears twice";
  case "malformed" {|{"a":{"dtype":"F32","shape":[1]}}|} "" "tensor a: malformed entry"

(* ---------------------------------------------------------------- Log *)
let test_log_lines () =
  let cfg = { (parse [ "--limit-train"; "2000"; "--lr"; "1e-5" ]) with data_dir = "d" } in
  let x n = Array2.create float32 c_layout n 784 in
  let splits = { Data.train_x = x 2000; train_y = [||]; val_x = x 3; val_y = [||]; test_x = x 4; test_y = [||] } in
  let lines =
    capture Log.sink (fun () ->
        Log.start ~row:"ocaml" ~framework:"openblas/0.3.21" ();
        Log.config cfg;
        Log.data splits 0.41234;
        Log.warmup 1.5;
        Log.epoch ~epoch:1 ~train_loss:0.9012344 ~train_acc:0.7315 ~val_loss:0.412345 ~val_acc:0.8812 ~seconds:0.1834;
        Log.test ~test_loss:0.425678 ~test_acc:0.8791 ~seconds:0.061;
        Log.predict 0 [| 0.1; 0.3; 0.3; 0.; 0.; 0.; 0.; 0.; 0.; 0.3 |])
  in
  Alcotest.(check (list string)) "lines"
    [ "event=start row=ocaml language=ocaml/" ^ Sys.ocaml_version ^ " framework=openblas/0.3.21 device=cpu";
      "event=config dataset=mnist epochs=5 batch_size=128 lr=1e-05 momentum=0.9 seed=0 limit_train=2000 shuffle=1 init=0";
      "event=data train=2000 val=3 test=4 seconds=0.412";
      "event=warmup seconds=1.500";
      "event=epoch epoch=1 train_loss=0.901234 train_acc=0.731500 val_loss=0.412345 val_acc=0.881200 seconds=0.183";
      "event=test test_loss=0.425678 test_acc=0.879100 seconds=0.061";
      "event=predict index=0 class=1 p0=0.100000 p1=0.300000 p2=0.300000 p3=0.000000 p4=0.000000 p5=0.000000 \
       p6=0.000000 p7=0.000000 p8=0.000000 p9=0.300000" ]
    lines

let test_py_repr () =
  List.iter
    (fun (x, s) -> Alcotest.(check string) s s (Log.py_repr x))
    [ (0.05, "0.05"); (0.9, "0.9"); (0., "0.0"); (1e-5, "1e-05"); (0.0001, "0.0001"); (10000., "10000.0");
      (1e6, "1000000.0"); (1e16, "1e+16"); (2.5e-7, "2.5e-07"); (0.1 +. 0.2, "0.30000000000000004"); (-1.5, "-1.5") ]

(* ---------------------------------------------------------------- Progress *)
let test_progress_rate_limit () =
  let now = ref 100. in
  let saved = !Progress.clock in
  Progress.clock := (fun () -> !now);
  let train batch = Progress.train ~epoch:2 ~epochs:3 ~batch ~batches:391 ~loss:(1. /. float_of_int batch) in
  let lines =
    capture Progress.sink (fun () ->
        Progress.data "mnist";
        List.iter (fun (t, batch) -> now := t; train batch)
          [ (100.1, 1); (100.249, 2); (100.25, 3); (100.3, 4); (100.6, 5); (100.7, 6); (100.86, 7) ];
        now := 200.;
        Progress.warmup ();
        now := 200.2;
        train 8)
  in
  Progress.clock := saved;
  Alcotest.(check (list string)) "at most one line per 0.25 s"
    [ "event=progress stage=data dataset=mnist";
      "event=progress stage=train epoch=2 epochs=3 batch=3 batches=391 loss=0.333333";
      "event=progress stage=train epoch=2 epochs=3 batch=5 batches=391 loss=0.200000";
      "event=progress stage=train epoch=2 epochs=3 batch=7 batches=391 loss=0.142857";
      "event=progress stage=warmup" ]
    lines

(* ---------------------------------------------------------------- Errors *)
let test_errors () =
  Alcotest.(check (pair int string)) "usage" (2, "m") (Errors.status_of (Errors.Usage_error "m"));
  Alcotest.(check (pair int string)) "data" (2, "m") (Errors.status_of (Errors.Data_error "m"));
  Alcotest.(check (pair int string)) "diverged" (3, "m") (Errors.status_of (Errors.Diverged "m"));
  Alcotest.(check (pair int string)) "interrupted" (130, "interrupted") (Errors.status_of Sys.Break);
  Alcotest.(check (pair int string)) "anything else" (1, "internal error: Not_found") (Errors.status_of Not_found);
  check_finite ~epoch:1 2.3;
  let diverged loss = match check_finite ~epoch:2 loss with () -> "" | exception Errors.Diverged msg -> msg in
  Alcotest.(check string) "nan" "training diverged in epoch 2: the training loss is nan; try a smaller --lr" (diverged nan);
  Alcotest.(check string) "inf" "training diverged in epoch 2: the training loss is inf; try a smaller --lr" (diverged infinity)

let () =
  Alcotest.run "contract"
    [ ( "cli",
        [ Alcotest.test_case "defaults" `Quick test_defaults; Alcotest.test_case "values" `Quick test_values;
          Alcotest.test_case "MNIST_DATA_DIR" `Quick test_data_dir_from_environment;
          Alcotest.test_case "progress start" `Quick test_progress_start;
          Alcotest.test_case "bad flags" `Quick test_bad_flags ] );
      ( "data",
        [ Alcotest.test_case "images" `Quick test_parse_images; Alcotest.test_case "bad images" `Quick test_bad_images;
          Alcotest.test_case "labels" `Quick test_labels; Alcotest.test_case "files" `Quick test_files;
          Alcotest.test_case "split counts" `Quick test_split_counts;
          Alcotest.test_case "missing directory" `Quick test_missing_data_dir;
          Alcotest.test_case "epoch order" `Quick test_epoch_order ] );
      ( "weights",
        [ Alcotest.test_case "round trip" `Quick test_round_trip; Alcotest.test_case "bad files" `Quick test_bad_weights;
          Alcotest.test_case "bad offsets" `Quick test_bad_offsets ] );
      ("log", [ Alcotest.test_case "lines" `Quick test_log_lines; Alcotest.test_case "py_repr" `Quick test_py_repr ]);
      ("progress", [ Alcotest.test_case "rate limit" `Quick test_progress_rate_limit ]);
      ("errors", [ Alcotest.test_case "statuses" `Quick test_errors ]) ]
