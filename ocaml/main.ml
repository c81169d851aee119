(* MNIST in OCaml: the SPEC.md MLP with hand-written backprop and SGD with momentum.

   Tensors are float32 Bigarrays in C (row-major) layout. The matrix products go to
   OpenBLAS's cblas_sgemm and the optimiser's two lines to cblas_saxpby, through small C
   stubs (blas_stubs.c); everything else — bias, ReLU, softmax cross-entropy, the batch
   gather — is plain OCaml loops. README.md has the measurements behind that split.
   Build and run from the repository root:

     dune build --root ocaml ./main.exe && ocaml/run.sh --epochs 1 *)

open Bigarray

type mat = (float, float32_elt, c_layout) Array2.t
type vec = (float, float32_elt, c_layout) Array1.t

(* ---------------------------------------------------------------- errors (SPEC.md §7) *)
(* A user's mistake: one `error: ...` line and exit status 2; divergence: exit status 3. *)
exception Usage_error of string
exception Data_error of string
exception Diverged of string

let usage_error fmt = Printf.ksprintf (fun msg -> raise (Usage_error msg)) fmt
let data_error fmt = Printf.ksprintf (fun msg -> raise (Data_error msg)) fmt

(* ---------------------------------------------------------------- data (SPEC.md §1) *)
let image_magic = 0x00000803
let label_magic = 0x00000801
let side = 28
let pixels = side * side
let train_count, test_count, val_count = 60_000, 10_000, 10_000

type splits = {
  train_x : mat; train_y : int array;
  val_x : mat; val_y : int array;
  test_x : mat; test_y : int array;
}

(* The decompressed bytes of a .gz file; a missing, truncated or corrupt file is a Data_error. *)
let read_gz path =
  if not (Sys.file_exists path) then data_error "%s: file not found" path;
  let input =
    try Gzip.open_in path with
    | Gzip.Error reason -> data_error "%s: not a valid gzip file (%s)" path reason
    | Sys_error reason -> data_error "%s: cannot read (%s)" path reason
  in
  let out = Buffer.create (1 lsl 20) and chunk = Bytes.create 65536 in
  let rec loop () =
    let n = Gzip.input input chunk 0 (Bytes.length chunk) in
    if n > 0 then (Buffer.add_subbytes out chunk 0 n; loop ())
  in
  (try loop () with
   | Gzip.Error reason -> Gzip.close_in input; data_error "%s: not a valid gzip file (%s)" path reason
   | End_of_file -> Gzip.close_in input; data_error "%s: not a valid gzip file (truncated)" path
   | Sys_error reason -> Gzip.close_in input; data_error "%s: cannot read (%s)" path reason);
  Gzip.close_in input;
  Buffer.contents out

(* A whole file's bytes; an unreadable one is a Data_error. *)
let read_file path =
  if Sys.is_directory path then data_error "%s: cannot read (is a directory)" path;
  try
    let ic = open_in_bin path in
    Fun.protect ~finally:(fun () -> close_in ic) (fun () -> really_input_string ic (in_channel_length ic))
  with Sys_error reason -> data_error "%s: cannot read (%s)" path reason

let be32 raw at = Int32.to_int (String.get_int32_be raw at) land 0xFFFF_FFFF

(* IDX3 bytes -> float32 [count, 784] scaled to [0, 1]. *)
let parse_idx_images name raw =
  let len = String.length raw in
  if len < 16 then data_error "%s: too short for an IDX image header (%d bytes)" name len;
  let magic = be32 raw 0 and count = be32 raw 4 and rows = be32 raw 8 and cols = be32 raw 12 in
  if magic <> image_magic then
    data_error "%s: not an IDX image file (magic 0x%08x, expected 0x%08x)" name magic image_magic;
  if rows <> side || cols <> side then data_error "%s: images are %dx%d, expected %dx%d" name rows cols side side;
  if len - 16 <> count * rows * cols then
    data_error "%s: header says %d images, but holds %d pixel bytes (expected %d)" name count (len - 16)
      (count * rows * cols);
  let images = Array2.create float32 c_layout count pixels in
  for i = 0 to count - 1 do
    for j = 0 to pixels - 1 do
      images.{i, j} <- float_of_int (Char.code (String.unsafe_get raw (16 + (i * pixels) + j))) /. 255.
    done
  done;
  images

(* IDX1 bytes -> labels, each 0-9. *)
let parse_idx_labels name raw =
  let len = String.length raw in
  if len < 8 then data_error "%s: too short for an IDX label header (%d bytes)" name len;
  let magic = be32 raw 0 and count = be32 raw 4 in
  if magic <> label_magic then
    data_error "%s: not an IDX label file (magic 0x%08x, expected 0x%08x)" name magic label_magic;
  if len - 8 <> count then data_error "%s: header says %d labels, but holds %d bytes" name count (len - 8);
  let labels = Array.init count (fun i -> Char.code raw.[8 + i]) in
  Array.iter (fun l -> if l > 9 then data_error "%s: label %d is out of range 0-9" name l) labels;
  labels

(* An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's first bytes 1f 8b). *)
let read_images path =
  if not (Sys.file_exists path) then data_error "%s: file not found" path;
  let raw = read_file path in
  parse_idx_images path (if String.starts_with ~prefix:"\x1f\x8b" raw then read_gz path else raw)

(* One pair of files -> (float32 [n, 784], labels [n]). *)
let read_split directory images_file labels_file expected =
  let images_path = Filename.concat directory images_file and labels_path = Filename.concat directory labels_file in
  let images = parse_idx_images images_path (read_gz images_path) in
  let labels = parse_idx_labels labels_path (read_gz labels_path) in
  if Array2.dim1 images <> expected || Array.length labels <> expected then
    data_error "%s: holds %d images and %s %d labels, expected %d of each" images_path (Array2.dim1 images)
      labels_file (Array.length labels) expected;
  (images, labels)

(* The train / validation / test split of SPEC.md §1, by position (views, not copies). *)
let load_mnist data_root dataset limit_train =
  let directory = Filename.concat data_root dataset in
  if not (Sys.file_exists directory && Sys.is_directory directory) then
    data_error "data directory %s not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder that holds %s/"
      directory dataset;
  let train_x, train_y = read_split directory "train-images-idx3-ubyte.gz" "train-labels-idx1-ubyte.gz" train_count in
  let test_x, test_y = read_split directory "t10k-images-idx3-ubyte.gz" "t10k-labels-idx1-ubyte.gz" test_count in
  let split = train_count - val_count in
  { train_x = Array2.sub_left train_x 0 limit_train; train_y = Array.sub train_y 0 limit_train;
    val_x = Array2.sub_left train_x split val_count; val_y = Array.sub train_y split val_count;
    test_x; test_y }

(* ---------------------------------------------------------------- model (SPEC.md §2) *)
external sgemm : bool -> bool -> float -> mat -> mat -> float -> mat -> unit
  = "ocaml_sgemm_bytecode" "ocaml_sgemm"
external saxpby : float -> vec -> float -> vec -> unit = "ocaml_saxpby"
external openblas_config : unit -> string = "ocaml_openblas_config"

let zeros rows cols = let m = Array2.create float32 c_layout rows cols in Array2.fill m 0.; m

(* The same product in plain OCaml loops, for the row's own flag --gemm ocaml (README.md has the
   measurement that made BLAS the default): one loop order per case the network uses, each
   walking memory contiguously. *)
let ocaml_gemm trans_a trans_b (a : mat) (b : mat) beta (c : mat) =
  let m = Array2.dim1 c and n = Array2.dim2 c in
  if beta = 0. then Array2.fill c 0.;
  match (trans_a, trans_b) with
  | false, true ->
      (* c[i,j] += a[i,:]·b[j,:] *)
      let k = Array2.dim2 a in
      for i = 0 to m - 1 do
        for j = 0 to n - 1 do
          let acc = ref 0. in
          for p = 0 to k - 1 do acc := !acc +. (Array2.unsafe_get a i p *. Array2.unsafe_get b j p) done;
          Array2.unsafe_set c i j (Array2.unsafe_get c i j +. !acc)
        done
      done
  | false, false ->
      (* c[i,:] += a[i,p]·b[p,:] *)
      let k = Array2.dim2 a in
      for i = 0 to m - 1 do
        for p = 0 to k - 1 do
          let x = Array2.unsafe_get a i p in
          if x <> 0. then for j = 0 to n - 1 do Array2.unsafe_set c i j (Array2.unsafe_get c i j +. (x *. Array2.unsafe_get b p j)) done
        done
      done
  | true, false ->
      (* c[i,:] += a[r,i]·b[r,:] over the rows r of a and b *)
      for r = 0 to Array2.dim1 a - 1 do
        for i = 0 to m - 1 do
          let x = Array2.unsafe_get a r i in
          if x <> 0. then for j = 0 to n - 1 do Array2.unsafe_set c i j (Array2.unsafe_get c i j +. (x *. Array2.unsafe_get b r j)) done
        done
      done
  | true, true -> invalid_arg "ocaml_gemm: both operands transposed"

let use_blas = ref true

(* c = op(a)·op(b) (op transposes when its flag is true) + beta·c, shapes checked here. *)
let matmul ?(beta = 0.) ?into trans_a a trans_b b =
  let dims t m = if t then (Array2.dim2 m, Array2.dim1 m) else (Array2.dim1 m, Array2.dim2 m) in
  let (m, k), (k', n) = (dims trans_a a, dims trans_b b) in
  if k <> k' then invalid_arg (Printf.sprintf "matmul: inner dimensions %d and %d differ" k k');
  (* a new c needs no zeroing: with beta = 0 both products overwrite it *)
  let c = match into with Some c -> c | None -> Array2.create float32 c_layout m n in
  if Array2.dim1 c <> m || Array2.dim2 c <> n then invalid_arg "matmul: wrong output shape";
  if !use_blas then sgemm trans_a trans_b 1. a b beta c else ocaml_gemm trans_a trans_b a b beta c;
  c

(* One nn.Linear: weight [out, in] (PyTorch's layout), bias [out]. *)
type layer = { weight : mat; bias : vec }
type params = { fc1 : layer; fc2 : layer; fc3 : layer }

let layers = [ ("fc1", 784, 512); ("fc2", 512, 512); ("fc3", 512, 10) ]
let to_list p = [ p.fc1; p.fc2; p.fc3 ]
let of_list = function [ fc1; fc2; fc3 ] -> { fc1; fc2; fc3 } | _ -> invalid_arg "of_list"
let map_params f p = of_list (List.map f (to_list p))

(* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)). *)
let init_params rng =
  of_list
    (List.map
       (fun (_, fan_in, fan_out) ->
         let bound = 1. /. sqrt (float_of_int fan_in) in
         let uniform _ = Random.State.float rng (2. *. bound) -. bound in
         let weight = zeros fan_out fan_in and bias = Array1.create float32 c_layout fan_out in
         for i = 0 to fan_out - 1 do
           for j = 0 to fan_in - 1 do weight.{i, j} <- uniform () done
         done;
         for i = 0 to fan_out - 1 do bias.{i} <- uniform () done;
         { weight; bias })
       layers)

(* x·Wᵀ + b: each output row starts as the bias, then sgemm adds the product (beta = 1). *)
let linear { weight; bias } x =
  let out = Array2.create float32 c_layout (Array2.dim1 x) (Array1.dim bias) in
  for i = 0 to Array2.dim1 x - 1 do Array1.blit bias (Array2.slice_left out i) done;
  matmul ~beta:1. ~into:out false x true weight

let relu (m : mat) =
  for i = 0 to Array2.dim1 m - 1 do
    for j = 0 to Array2.dim2 m - 1 do
      if Array2.unsafe_get m i j < 0. then Array2.unsafe_set m i j 0.
    done
  done;
  m

(* Logits for a batch, plus the hidden activations that backward needs. *)
let forward p x =
  let h1 = relu (linear p.fc1 x) in
  let h2 = relu (linear p.fc2 h1) in
  (linear p.fc3 h2, (h1, h2))

(* Summed loss, number of correct predictions, and the gradient of the batch-mean softmax
   cross-entropy with respect to the logits. labels.(offset + i) is row i's label. *)
let softmax_cross_entropy (logits : mat) labels offset =
  let n = Array2.dim1 logits and k = Array2.dim2 logits in
  let grad = zeros n k in
  let loss_sum = ref 0. and correct = ref 0 in
  for i = 0 to n - 1 do
    let label = labels.(offset + i) in
    let best = ref 0 in
    for j = 1 to k - 1 do if logits.{i, j} > logits.{i, !best} then best := j done;
    if !best = label then incr correct;
    let max = logits.{i, !best} in
    let sum_exp = ref 0. in
    for j = 0 to k - 1 do
      (* shifted, so exp cannot overflow *)
      let e = exp (logits.{i, j} -. max) in
      grad.{i, j} <- e;
      sum_exp := !sum_exp +. grad.{i, j}
    done;
    loss_sum := !loss_sum +. (log !sum_exp -. (logits.{i, label} -. max));
    for j = 0 to k - 1 do
      let p = grad.{i, j} /. !sum_exp in
      grad.{i, j} <- ((if j = label then p -. 1. else p) /. float_of_int n)
    done
  done;
  (!loss_sum, !correct, grad)

(* grad_h * (h > 0), in place: the ReLU's backward pass. *)
let relu_backward (grad : mat) (h : mat) =
  for i = 0 to Array2.dim1 h - 1 do
    for j = 0 to Array2.dim2 h - 1 do
      if Array2.unsafe_get h i j <= 0. then Array2.unsafe_set grad i j 0.
    done
  done;
  grad

let column_sums (m : mat) : vec =
  let sums = Array1.create float32 c_layout (Array2.dim2 m) in
  Array1.fill sums 0.;
  for i = 0 to Array2.dim1 m - 1 do
    for j = 0 to Array2.dim2 m - 1 do
      Array1.unsafe_set sums j (Array1.unsafe_get sums j +. Array2.unsafe_get m i j)
    done
  done;
  sums

(* Backpropagation through fc3 -> ReLU -> fc2 -> ReLU -> fc1: a gradient per parameter. *)
let backward p x (h1, h2) grad_logits =
  let grad_h2 = relu_backward (matmul false grad_logits false p.fc3.weight) h2 in
  let grad_h1 = relu_backward (matmul false grad_h2 false p.fc2.weight) h1 in
  let grad delta input = { weight = matmul true delta false input; bias = column_sums delta } in
  { fc1 = grad grad_h1 x; fc2 = grad grad_h2 h1; fc3 = grad grad_logits h2 }

(* ---------------------------------------------------------------- train step (SPEC.md §3) *)
(* Flat float32 views of a layer's weight and bias, for the element-wise optimiser. *)
let flat_views l =
  [ reshape_1 (genarray_of_array2 l.weight) (Array2.dim1 l.weight * Array2.dim2 l.weight); l.bias ]

(* One SGD-with-momentum step in PyTorch's form (buf = mu*buf + g; p = p - lr*buf), in place.
   Both lines are one BLAS saxpby each (y = a*x + b*y, float32, vectorised); an OCaml loop
   here cost more than all of the step's matrix products (README.md).
   Returns the batch's summed loss and number of correct predictions. *)
let train_step params velocity x labels offset lr momentum =
  let logits, hidden = forward params x in
  let loss, correct, grad_logits = softmax_cross_entropy logits labels offset in
  let grads = backward params x hidden grad_logits in
  let update p v g =
    if Array1.dim p <> Array1.dim v || Array1.dim v <> Array1.dim g then invalid_arg "train_step: shapes differ";
    saxpby 1. g momentum v;
    saxpby (-.lr) v 1. p
  in
  let tensors net = List.concat_map flat_views (to_list net) in
  List.iter2 (fun (p, v) g -> update p v g) (List.combine (tensors params) (tensors velocity)) (tensors grads);
  (loss, correct)

(* A uniformly random permutation of 0..n-1 (Fisher-Yates). *)
let permutation rng n =
  let order = Array.init n Fun.id in
  for i = n - 1 downto 1 do
    let j = Random.State.int rng (i + 1) in
    let t = order.(i) in
    order.(i) <- order.(j);
    order.(j) <- t
  done;
  order

(* One pass over the training set in consecutive batches of the epoch's order
   (the last, partial batch is kept); returns the mean loss and accuracy. *)
let train_epoch params velocity x y ~batch_size ~lr ~momentum order =
  let n = Array.length order in
  let loss_sum = ref 0. and correct = ref 0 in
  let start = ref 0 in
  while !start < n do
    let size = min batch_size (n - !start) in
    let batch_x = Array2.create float32 c_layout size pixels in
    let batch_y = Array.init size (fun i -> y.(order.(!start + i))) in
    for i = 0 to size - 1 do
      Array1.blit (Array2.slice_left x order.(!start + i)) (Array2.slice_left batch_x i)
    done;
    let loss, hits = train_step params velocity batch_x batch_y 0 lr momentum in
    loss_sum := !loss_sum +. loss;
    correct := !correct + hits;
    start := !start + size
  done;
  (!loss_sum /. float_of_int n, float_of_int !correct /. float_of_int n)

(* ---------------------------------------------------------------- evaluate *)
(* Mean loss and accuracy over a whole split, in batches of 1000 (views, no copies). *)
let evaluate params x y =
  let n = Array2.dim1 x in
  let loss_sum = ref 0. and correct = ref 0 in
  let start = ref 0 in
  while !start < n do
    let size = min 1000 (n - !start) in
    let logits, _ = forward params (Array2.sub_left x !start size) in
    let loss, hits, _ = softmax_cross_entropy logits y !start in
    loss_sum := !loss_sum +. loss;
    correct := !correct + hits;
    start := !start + size
  done;
  (!loss_sum /. float_of_int n, float_of_int !correct /. float_of_int n)

(* Softmax probabilities of each image's ten classes (--predict), one array per image. *)
let predict params x =
  let logits, _ = forward params x in
  Array.init (Array2.dim1 logits) (fun i ->
      let row = Array.init (Array2.dim2 logits) (fun j -> logits.{i, j}) in
      let top = Array.fold_left Float.max neg_infinity row in
      let e = Array.map (fun z -> exp (z -. top)) row in (* shifted, so exp cannot overflow *)
      let total = Array.fold_left ( +. ) 0. e in
      Array.map (fun v -> v /. total) e)

(* ---------------------------------------------------------------- weights file (SPEC.md §5) *)
let tensor_shapes =
  List.concat_map (fun (name, fan_in, fan_out) -> [ (name ^ ".weight", [ fan_out; fan_in ]); (name ^ ".bias", [ fan_out ]) ]) layers

let dtype_sizes =
  [ ("BOOL", 1); ("U8", 1); ("I8", 1); ("F8_E5M2", 1); ("F8_E4M3", 1); ("I16", 2); ("U16", 2); ("F16", 2);
    ("BF16", 2); ("I32", 4); ("U32", 4); ("F32", 4); ("I64", 8); ("U64", 8); ("F64", 8) ]

let shape_string dims = "[" ^ String.concat ", " (List.map string_of_int dims) ^ "]"

(* Read and check a safetensors file: exactly the six F32 tensors of the contract's shapes. *)
let load_weights path =
  if not (Sys.file_exists path) || Sys.is_directory path then data_error "%s: weights file not found" path;
  let bytes = read_file path in
  let bad fmt = Printf.ksprintf (fun reason -> data_error "%s: not a safetensors file (%s)" path reason) fmt in
  let size = String.length bytes in
  if size < 8 then bad "shorter than its 8-byte header length";
  let header_len = String.get_int64_le bytes 0 in
  if Int64.compare header_len 0L < 0 || Int64.compare header_len (Int64.of_int (size - 8)) > 0 then
    bad "header length %Lu exceeds the file" header_len;
  let header_len = Int64.to_int header_len in
  let data_start = 8 + header_len and data_len = size - 8 - header_len in
  let header =
    match Yojson.Safe.from_string (String.sub bytes 8 header_len) with
    | `Assoc fields -> fields
    | _ -> bad "header is not a JSON object"
    | exception Yojson.Json_error reason -> bad "header is not valid JSON: %s" (String.map (function '\n' -> ' ' | c -> c) reason)
  in
  let entries =
    List.filter_map
      (fun (name, value) ->
        if name = "__metadata__" then None
        else
          match value with
          | `Assoc entry -> (
              match (List.assoc_opt "dtype" entry, List.assoc_opt "shape" entry, List.assoc_opt "data_offsets" entry) with
              | Some (`String dtype), Some (`List dims), Some (`List [ `Int first; `Int last ]) ->
                  let dims = List.map (function `Int d when d >= 0 -> d | _ -> bad "tensor %s: malformed shape" name) dims in
                  if first < 0 || first > last || last > data_len then bad "tensor %s: data_offsets outside the data" name;
                  (match List.assoc_opt dtype dtype_sizes with
                   | None -> bad "tensor %s has unknown dtype %s" name dtype
                   | Some width ->
                       if last - first <> width * List.fold_left ( * ) 1 dims then
                         bad "tensor %s: data_offsets do not match its shape and dtype" name);
                  Some (name, (dtype, dims, first, last))
              | _ -> bad "tensor %s: malformed entry" name)
          | _ -> bad "tensor %s: malformed entry" name)
      header
  in
  (* each name once, and the tensors tile the data buffer exactly, as the format requires *)
  let names = List.map fst entries in
  if List.length (List.sort_uniq compare names) <> List.length names then bad "a tensor name appears twice";
  let spans = List.sort compare (List.map (fun (_, (_, _, first, last)) -> (first, last)) entries) in
  let rec tiles at = function [] -> at = data_len | (first, last) :: rest -> first = at && tiles last rest in
  if not (tiles 0 spans) then bad "tensors do not cover the data buffer exactly";
  List.iter (fun (name, _) -> if not (List.mem_assoc name entries) then data_error "%s: weights file lacks tensor %s" path name) tensor_shapes;
  List.iter
    (fun name -> if not (List.mem_assoc name tensor_shapes) then data_error "%s: weights file has unexpected tensor %s" path name)
    (List.sort compare names);
  let tensor name =
    let dtype, dims, first, _ = List.assoc name entries in
    let wanted = List.assoc name tensor_shapes in
    if dtype <> "F32" then data_error "%s: tensor %s is %s, expected F32" path name dtype;
    if dims <> wanted then data_error "%s: tensor %s has shape %s, expected %s" path name (shape_string dims) (shape_string wanted);
    let count = List.fold_left ( * ) 1 dims in
    let values = Array1.create float32 c_layout count in
    for i = 0 to count - 1 do
      values.{i} <- Int32.float_of_bits (String.get_int32_le bytes (data_start + first + (4 * i)))
    done;
    values
  in
  of_list
    (List.map
       (fun (name, fan_in, fan_out) ->
         { weight = reshape_2 (genarray_of_array1 (tensor (name ^ ".weight"))) fan_out fan_in; bias = tensor (name ^ ".bias") })
       layers)

(* Write the six tensors as float32 safetensors (header padded with spaces to 8 bytes). *)
let save_weights path params =
  let tensors = List.concat_map flat_views (to_list params) in
  let offsets = List.rev (List.fold_left (fun acc t -> (List.hd acc + (4 * Array1.dim t)) :: acc) [ 0 ] tensors) in
  let entry (name, dims) first last =
    Printf.sprintf "\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%d,%d]}" name
      (String.concat "," (List.map string_of_int dims)) first last
  in
  let rec entries shapes offsets =
    match (shapes, offsets) with
    | shape :: shapes, first :: (last :: _ as offsets) -> entry shape first last :: entries shapes offsets
    | _ -> []
  in
  let json = "{" ^ String.concat "," (entries tensor_shapes offsets) ^ "}" in
  let json = json ^ String.make ((8 - (String.length json mod 8)) mod 8) ' ' in
  let out = Buffer.create (8 + String.length json + List.nth offsets (List.length tensors)) in
  Buffer.add_int64_le out (Int64.of_int (String.length json));
  Buffer.add_string out json;
  List.iter (fun t -> for i = 0 to Array1.dim t - 1 do Buffer.add_int32_le out (Int32.bits_of_float t.{i}) done) tensors;
  try
    let oc = open_out_bin path in
    Fun.protect ~finally:(fun () -> close_out oc) (fun () -> Buffer.output_buffer oc out)
  with Sys_error reason -> data_error "%s: cannot write weights (%s)" path reason

(* ---------------------------------------------------------------- flags (SPEC.md §4) *)
type config = {
  dataset : string; data_dir : string; epochs : int; batch_size : int; lr : float; momentum : float;
  seed : int; limit_train : int; shuffle : bool; init : string option; save : string option;
  predict : string option;
}

let is_digits s = s <> "" && String.for_all (function '0' .. '9' -> true | _ -> false) s

(* An integer in [low, high] written as plain decimal digits (with an optional sign). *)
let int_in flag ?high low text =
  let body = if text <> "" && (text.[0] = '+' || text.[0] = '-') then String.sub text 1 (String.length text - 1) else text in
  let wanted = match high with None -> Printf.sprintf ">= %d" low | Some h -> Printf.sprintf "in %d..%d" low h in
  let fail () = usage_error "%s must be an integer %s, got %s" flag wanted text in
  if not (is_digits body) || String.length body > 12 then fail ();
  let value = int_of_string (if text.[0] = '+' then body else text) in
  if value < low || match high with Some h -> value > h | None -> false then fail ();
  value

(* A finite number in the usual decimal forms (0.05, .5, 5., 5e-2) that satisfies check. *)
let number_in flag check wanted text =
  let n = String.length text in
  let i = ref (if n > 0 && (text.[0] = '+' || text.[0] = '-') then 1 else 0) in
  let digits () = let s = !i in while !i < n && text.[!i] >= '0' && text.[!i] <= '9' do incr i done; !i - s in
  let whole = digits () in
  let frac = if !i < n && text.[!i] = '.' then (incr i; digits ()) else 0 in
  let exponent_ok =
    if !i < n && (text.[!i] = 'e' || text.[!i] = 'E') then (
      incr i;
      if !i < n && (text.[!i] = '+' || text.[!i] = '-') then incr i;
      digits () > 0)
    else true
  in
  match float_of_string_opt text with
  | Some value when whole + frac > 0 && exponent_ok && !i = n && Float.is_finite value && check value -> value
  | _ -> usage_error "%s must be %s, got %s" flag wanted text

let parse_args argv =
  let dataset = ref "mnist" and data_dir = ref None and epochs = ref 5 and batch_size = ref 128 in
  let lr = ref 0.05 and momentum = ref 0.9 and seed = ref 0 and limit_train = ref 50_000 in
  let shuffle = ref true and init = ref None and load = ref None and save = ref None and predict = ref None in
  (* Arg reports an exception from these setters as "<prog>: <message>." plus the usage *)
  let bad f x = try f x with Usage_error msg -> raise (Arg.Bad msg) in
  let specs =
    Arg.align ~limit:20
      [
        ("--dataset", Arg.String (bad (fun s ->
             if s = "mnist" || s = "fashion-mnist" then dataset := s
             else usage_error "--dataset must be one of mnist, fashion-mnist, got %s" s)),
         "NAME mnist | fashion-mnist (default: mnist)");
        ("--data-dir", Arg.String (fun s -> data_dir := Some s),
         "DIR data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)");
        ("--epochs", Arg.String (bad (fun s -> epochs := int_in "--epochs" 0 s)),
         "N passes over the training set; 0 only evaluates (default: 5)");
        ("--batch-size", Arg.String (bad (fun s -> batch_size := int_in "--batch-size" 1 s)),
         "N examples per SGD step (default: 128)");
        ("--lr", Arg.String (bad (fun s -> lr := number_in "--lr" (fun v -> v > 0.) "a number > 0" s)),
         "X learning rate (default: 0.05)");
        ("--momentum", Arg.String (bad (fun s ->
             momentum := number_in "--momentum" (fun v -> v >= 0. && v < 1.) "a number in [0, 1)" s)),
         "X SGD momentum (default: 0.9)");
        ("--seed", Arg.String (bad (fun s -> seed := int_in "--seed" ~high:4294967295 0 s)),
         "N seeds initialisation and shuffling (default: 0)");
        ("--limit-train", Arg.String (bad (fun s -> limit_train := int_in "--limit-train" ~high:50_000 1 s)),
         "N train on the first N training examples only (default: all 50000)");
        ("--no-shuffle", Arg.Clear shuffle, " keep the training examples in file order every epoch");
        ("--init", Arg.String (fun s -> init := Some s), "FILE start from these safetensors weights instead of random ones");
        ("--load", Arg.String (fun s -> load := Some s), "FILE same as --init; with --epochs 0 only evaluates");
        ("--save", Arg.String (fun s -> save := Some s), "FILE write the trained weights to this safetensors file");
        ("--predict", Arg.String (fun s -> predict := Some s),
         "IDX_FILE classify the images of this IDX file (.gz or plain) with the --load weights instead of training");
        ("--gemm", Arg.String (bad (fun s ->
             if s = "blas" || s = "ocaml" then use_blas := s = "blas"
             else usage_error "--gemm must be blas or ocaml, got %s" s)),
         "KIND matrix products by OpenBLAS (blas, the default) or by OCaml loops (ocaml); this row's own flag");
      ]
  in
  let usage = "Train the SPEC.md MLP on MNIST with hand-written backprop in OCaml.\n\nusage: main.exe [options]\n" in
  (try Arg.parse_argv ~current:(ref 0) argv specs (fun arg -> raise (Arg.Bad ("unexpected argument '" ^ arg ^ "'"))) usage with
   | Arg.Help text -> print_string text; exit 0
   | Arg.Bad text ->
       (* the first line is "<prog>: <what is wrong>."; the rest is the usage *)
       let line = List.hd (String.split_on_char '\n' text) in
       let line = match String.index_opt line ':' with Some i -> String.sub line (i + 2) (String.length line - i - 2) | None -> line in
       let line = if String.ends_with ~suffix:"." line then String.sub line 0 (String.length line - 1) else line in
       raise (Usage_error (line ^ " (see --help)")));
  if !init <> None && !load <> None then usage_error "--init and --load are the same option; give only one";
  if !predict <> None && !load = None then usage_error "--predict needs the weights to classify with: add --load FILE";
  Option.iter
    (fun path ->
      let parent = Filename.dirname path in
      if not (Sys.file_exists parent && Sys.is_directory parent) then usage_error "--save: directory %s does not exist" parent)
    !save;
  let data_dir =
    match (!data_dir, Sys.getenv_opt "MNIST_DATA_DIR") with
    | Some dir, _ -> dir
    | None, Some dir when dir <> "" -> dir
    | _ -> "data"
  in
  { dataset = !dataset; data_dir; epochs = !epochs; batch_size = !batch_size; lr = !lr; momentum = !momentum;
    seed = !seed; limit_train = !limit_train; shuffle = !shuffle;
    init = (match !init with Some _ -> !init | None -> !load); save = !save; predict = !predict }

(* ---------------------------------------------------------------- log lines (SPEC.md §6) *)
let emit event fields =
  print_string (String.concat " " (("event=" ^ event) :: List.map (fun (k, v) -> k ^ "=" ^ v) fields));
  print_newline () (* also flushes stdout *)

let f6 = Printf.sprintf "%.6f"
let f3 = Printf.sprintf "%.3f"
let flag b = if b then "1" else "0"

(* The most probable digit, the lowest on a tie. *)
let best_class probabilities =
  let best = ref 0 in
  Array.iteri (fun d p -> if p > probabilities.(!best) then best := d) probabilities;
  !best

(* A float as Python's repr writes it (0.05, 0.9, 10000.0, 1e-05), so every row's config line reads
   the same: the shortest digits that read back as the same number, positional unless the exponent
   is below -4 or at least 16. *)
let py_repr x =
  if x = 0. then "0.0"
  else
    let rec shortest p =
      let s = Printf.sprintf "%.*e" (p - 1) (Float.abs x) in
      if p >= 17 || float_of_string s = Float.abs x then s else shortest (p + 1)
    in
    let s = shortest 1 in
    let e = String.index s 'e' in
    let digits = String.concat "" (String.split_on_char '.' (String.sub s 0 e)) in
    let exp = int_of_string (String.sub s (e + 1) (String.length s - e - 1)) in
    let nd = String.length digits in
    let body =
      if exp < -4 || exp >= 16 then
        (if nd > 1 then String.sub digits 0 1 ^ "." ^ String.sub digits 1 (nd - 1) else digits)
        ^ Printf.sprintf "e%c%02d" (if exp < 0 then '-' else '+') (abs exp)
      else if exp < 0 then "0." ^ String.make (-exp - 1) '0' ^ digits
      else if nd <= exp + 1 then digits ^ String.make (exp + 1 - nd) '0' ^ ".0"
      else String.sub digits 0 (exp + 1) ^ "." ^ String.sub digits (exp + 1) (nd - exp - 1)
    in
    if x < 0. then "-" ^ body else body

(* ---------------------------------------------------------------- main *)
let run argv =
  let cfg = parse_args argv in
  let version = match String.split_on_char ' ' (openblas_config ()) with _ :: v :: _ -> v | _ -> "unknown" in
  emit "start" [ ("row", "ocaml"); ("language", "ocaml/" ^ Sys.ocaml_version); ("framework", "openblas/" ^ version); ("device", "cpu") ];
  (match (cfg.predict, cfg.init) with
   | Some images, Some weights ->
       let params = load_weights weights in
       Array.iteri
         (fun index probabilities ->
           emit "predict"
             (("index", string_of_int index) :: ("class", string_of_int (best_class probabilities))
             :: List.mapi (fun d p -> ("p" ^ string_of_int d, f6 p)) (Array.to_list probabilities)))
         (predict params (read_images images));
       exit 0
   | _ -> ());
  emit "config"
    [ ("dataset", cfg.dataset); ("epochs", string_of_int cfg.epochs); ("batch_size", string_of_int cfg.batch_size);
      ("lr", py_repr cfg.lr); ("momentum", py_repr cfg.momentum); ("seed", string_of_int cfg.seed);
      ("limit_train", string_of_int cfg.limit_train); ("shuffle", flag cfg.shuffle); ("init", flag (cfg.init <> None)) ];

  let started = Unix.gettimeofday () in
  let splits = load_mnist cfg.data_dir cfg.dataset cfg.limit_train in
  emit "data"
    [ ("train", string_of_int (Array2.dim1 splits.train_x)); ("val", string_of_int (Array2.dim1 splits.val_x));
      ("test", string_of_int (Array2.dim1 splits.test_x)); ("seconds", f3 (Unix.gettimeofday () -. started)) ];

  (* OCaml's Random takes an int array seed; --seed fits an OCaml int (63 bits) *)
  let rng = Random.State.make [| cfg.seed |] in
  let params = match cfg.init with Some path -> load_weights path | None -> init_params rng in
  let velocity =
    map_params (fun l ->
        let v = { weight = zeros (Array2.dim1 l.weight) (Array2.dim2 l.weight); bias = Array1.create float32 c_layout (Array1.dim l.bias) } in
        Array1.fill v.bias 0.; v) params
  in
  let n = Array2.dim1 splits.train_x in
  for epoch = 1 to cfg.epochs do
    let order = if cfg.shuffle then permutation rng n else Array.init n Fun.id in
    let t0 = Unix.gettimeofday () in
    let train_loss, train_acc =
      train_epoch params velocity splits.train_x splits.train_y ~batch_size:cfg.batch_size ~lr:cfg.lr ~momentum:cfg.momentum order
    in
    let seconds = Unix.gettimeofday () -. t0 in
    if not (Float.is_finite train_loss) then
      raise (Diverged (Printf.sprintf "training diverged in epoch %d: the training loss is %s; try a smaller --lr" epoch
                         (if Float.is_nan train_loss then "nan" else Printf.sprintf "%g" train_loss)));
    let val_loss, val_acc = evaluate params splits.val_x splits.val_y in
    emit "epoch"
      [ ("epoch", string_of_int epoch); ("train_loss", f6 train_loss); ("train_acc", f6 train_acc);
        ("val_loss", f6 val_loss); ("val_acc", f6 val_acc); ("seconds", f3 seconds) ]
  done;

  let t0 = Unix.gettimeofday () in
  let test_loss, test_acc = evaluate params splits.test_x splits.test_y in
  emit "test" [ ("test_loss", f6 test_loss); ("test_acc", f6 test_acc); ("seconds", f3 (Unix.gettimeofday () -. t0)) ];
  Option.iter (fun path -> save_weights path params) cfg.save

(* Every failure ends as one `error: ...` line on stderr and the contract's exit status. *)
let () =
  let fail status msg =
    flush stdout;
    prerr_endline ("error: " ^ msg);
    exit status
  in
  Sys.catch_break true;
  match run Sys.argv with
  | () -> exit 0
  | exception Usage_error msg -> fail 2 msg
  | exception Data_error msg -> fail 2 msg
  | exception Diverged msg -> fail 3 msg
  | exception Sys.Break -> fail 130 "interrupted"
  | exception Out_of_memory -> fail 1 "out of memory"
  | exception e -> fail 1 ("internal error: " ^ Printexc.to_string e)
