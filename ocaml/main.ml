(* MNIST in OCaml: the SPEC.md MLP with hand-written backprop and SGD with momentum, on float32
   Bigarrays; matrix products and the optimiser go to OpenBLAS through C stubs (blas_stubs.c).
   The contract (flags, files, log lines, errors) is the Contract library in common/ocaml.
   From the repository root: ocaml/build.sh && ocaml/run.sh --epochs 1 *)

open Bigarray
open Contract

type mat = (float, float32_elt, c_layout) Array2.t
type vec = (float, float32_elt, c_layout) Array1.t

(* ---------------------------------------------------------------- data (SPEC.md §1) *)
(* Data.load reads the IDX files: train_x [n, 784] (pixels in [0, 1]), train_y [n], val_*, test_*. *)

(* ---------------------------------------------------------------- model (SPEC.md §2) *)
external sgemm : bool -> bool -> float -> mat -> mat -> float -> mat -> unit
  = "ocaml_sgemm_bytecode" "ocaml_sgemm"
external saxpby : float -> vec -> float -> vec -> unit = "ocaml_saxpby"
external openblas_config : unit -> string = "ocaml_openblas_config"
(* Element-wise loops in C (blas_stubs.c explains why), in place, on equal-shaped matrices. *)
external relu : mat -> unit = "ocaml_relu" (* m = max(m, 0) *)
external relu_backward : mat -> mat -> unit = "ocaml_relu_backward" (* grad = grad * (h > 0) *)
external column_sums : mat -> vec -> unit = "ocaml_column_sums" (* a bias gradient *)

let zeros rows cols = let m = Array2.create float32 c_layout rows cols in Array2.fill m 0.; m
let zeros_vec n = let v = Array1.create float32 c_layout n in Array1.fill v 0.; v

(* c = op(a)·op(b) + beta·c, where op transposes when its flag is true; shapes checked here.
   c is written in place (with beta = 0 sgemm overwrites it, so it needs no zeroing). *)
let matmul ?(beta = 0.) trans_a a trans_b b c =
  let dims t m = if t then (Array2.dim2 m, Array2.dim1 m) else (Array2.dim1 m, Array2.dim2 m) in
  let (m, k), (k', n) = (dims trans_a a, dims trans_b b) in
  if k <> k' || (m, n) <> (Array2.dim1 c, Array2.dim2 c) then invalid_arg "matmul: shapes differ";
  sgemm trans_a trans_b 1. a b beta c

(* One nn.Linear: weight [out, in] (PyTorch's layout), bias [out]; layers: name, fan_in, fan_out. *)
type layer = { weight : mat; bias : vec }
type params = { fc1 : layer; fc2 : layer; fc3 : layer }

let layers = [ ("fc1", 784, 512); ("fc2", 512, 512); ("fc3", 512, 10) ]
let to_list p = [ p.fc1; p.fc2; p.fc3 ]
let of_list = function [ fc1; fc2; fc3 ] -> { fc1; fc2; fc3 } | _ -> invalid_arg "of_list"

(* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)). *)
let init_params rng =
  let layer (_, fan_in, fan_out) =
    let bound = 1. /. sqrt (float_of_int fan_in) in
    let uniform () = Random.State.float rng (2. *. bound) -. bound in
    (* init fills row by row; the weights are drawn first, then the biases *)
    let weight = Array2.init float32 c_layout fan_out fan_in (fun _ _ -> uniform ()) in
    let bias = Array1.init float32 c_layout fan_out (fun _ -> uniform ()) in
    { weight; bias }
  in
  of_list (List.map layer layers)

(* Every matrix a step writes, allocated once per batch size and then overwritten, step after
   step: fresh Bigarrays (about 4 MB a step) cost page faults and major GC slices. *)
type workspace = {
  x : mat; h1 : mat; h2 : mat; logits : mat; (* the batch and forward's activations *)
  grad_logits : mat; grad_h2 : mat; grad_h1 : mat; grads : params; (* backward's gradients *)
}

let workspace rows =
  let mat cols = Array2.create float32 c_layout rows cols in
  let grads (_, fan_in, fan_out) = { weight = zeros fan_out fan_in; bias = zeros_vec fan_out } in
  { x = mat Data.pixels; h1 = mat 512; h2 = mat 512; logits = mat 10;
    grad_logits = mat 10; grad_h2 = mat 512; grad_h1 = mat 512; grads = of_list (List.map grads layers) }

(* out = x·Wᵀ + b: each output row starts as the bias, then sgemm adds the product (beta = 1). *)
let linear { weight; bias } x out =
  for i = 0 to Array2.dim1 x - 1 do Array1.blit bias (Array2.slice_left out i) done;
  matmul ~beta:1. false x true weight out

(* The batch's logits, into ws.logits; ws.h1 and ws.h2 keep the activations backward needs. *)
let forward p ws x =
  linear p.fc1 x ws.h1;
  relu ws.h1;
  linear p.fc2 ws.h1 ws.h2;
  relu ws.h2;
  linear p.fc3 ws.h2 ws.logits;
  ws.logits

(* Summed loss and number of correct predictions; writes into grad the gradient of the
   batch-mean softmax cross-entropy with respect to the logits. labels.(offset + i) is row i's. *)
let softmax_cross_entropy (logits : mat) labels offset (grad : mat) =
  let n = Array2.dim1 logits and k = Array2.dim2 logits in
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
  (!loss_sum, !correct)

(* Backpropagation through fc3 -> ReLU -> fc2 -> ReLU -> fc1, from ws.grad_logits: a gradient
   per parameter, into ws.grads. *)
let backward p ws x =
  matmul false ws.grad_logits false p.fc3.weight ws.grad_h2;
  relu_backward ws.grad_h2 ws.h2;
  matmul false ws.grad_h2 false p.fc2.weight ws.grad_h1;
  relu_backward ws.grad_h1 ws.h1;
  let grad delta input g = matmul true delta false input g.weight; column_sums delta g.bias in
  grad ws.grad_h1 x ws.grads.fc1;
  grad ws.grad_h2 ws.h1 ws.grads.fc2;
  grad ws.grad_logits ws.h2 ws.grads.fc3

(* ---------------------------------------------------------------- train step (SPEC.md §3) *)
(* Every parameter as a flat float32 vector (views, not copies), for the element-wise optimiser. *)
let tensors p = List.concat_map (fun l -> [ Weights.flat l.weight; l.bias ]) (to_list p)

(* One SGD-with-momentum step in PyTorch's form (buf = mu*buf + g; p = p - lr*buf), in place.
   Each line is one BLAS saxpby (y = a*x + b*y); an OCaml loop here cost more than all of the
   step's matrix products (README.md). Returns the batch's summed loss and correct count. *)
let train_step params velocity ws x labels lr momentum =
  let loss, correct = softmax_cross_entropy (forward params ws x) labels 0 ws.grad_logits in
  backward params ws x;
  let update (p, v) g =
    saxpby 1. g momentum v;
    saxpby (-.lr) v 1. p
  in
  List.iter2 update (List.combine (tensors params) (tensors velocity)) (tensors ws.grads);
  (loss, correct)

(* One pass over the training set in consecutive batches of the epoch's order (the last,
   partial batch is kept); returns the mean loss and accuracy. *)
let train_epoch params velocity (splits : Data.splits) (cfg : Cli.config) ~epoch order =
  let n = Array.length order in
  let batches = (n + cfg.batch_size - 1) / cfg.batch_size in
  let loss_sum = ref 0. and correct = ref 0 and ws = ref (workspace cfg.batch_size) in
  for batch = 0 to batches - 1 do
    let start = batch * cfg.batch_size in
    let size = min cfg.batch_size (n - start) in
    if size <> Array2.dim1 !ws.x then ws := workspace size; (* the last, partial batch *)
    (* gather the batch's images and labels into one matrix and one array *)
    let x = !ws.x in
    for i = 0 to size - 1 do
      Array1.blit (Array2.slice_left splits.train_x order.(start + i)) (Array2.slice_left x i)
    done;
    let y = Array.init size (fun i -> splits.train_y.(order.(start + i))) in
    let loss, hits = train_step params velocity !ws x y cfg.lr cfg.momentum in
    loss_sum := !loss_sum +. loss;
    correct := !correct + hits;
    let loss = !loss_sum /. float_of_int (start + size) in (* the epoch's running mean *)
    Progress.train ~epoch ~epochs:cfg.epochs ~batch:(batch + 1) ~batches ~loss
  done;
  (!loss_sum /. float_of_int n, float_of_int !correct /. float_of_int n)

(* ---------------------------------------------------------------- evaluate *)
(* Mean loss and accuracy over a whole split, in batches of 1000 (views, no copies). *)
let evaluate params x y =
  let n = Array2.dim1 x in
  let loss_sum = ref 0. and correct = ref 0 and ws = ref (workspace (min 1000 n)) in
  for batch = 0 to (n - 1) / 1000 do
    let start = batch * 1000 in
    let size = min 1000 (n - start) in
    if size <> Array2.dim1 !ws.x then ws := workspace size;
    let logits = forward params !ws (Array2.sub_left x start size) in
    let loss, hits = softmax_cross_entropy logits y start !ws.grad_logits in
    loss_sum := !loss_sum +. loss;
    correct := !correct + hits
  done;
  (!loss_sum /. float_of_int n, float_of_int !correct /. float_of_int n)

(* Softmax probabilities of each image's ten classes (--predict), one array per image. *)
let predict params x =
  let logits = forward params (workspace (Array2.dim1 x)) x in
  Array.init (Array2.dim1 logits) (fun i ->
      let row = Array.init (Array2.dim2 logits) (fun j -> logits.{i, j}) in
      let top = Array.fold_left Float.max neg_infinity row in
      let e = Array.map (fun z -> exp (z -. top)) row in (* shifted, so exp cannot overflow *)
      let total = Array.fold_left ( +. ) 0. e in
      Array.map (fun v -> v /. total) e)

(* ---------------------------------------------------------------- main *)
let load_params path = of_list (List.map (fun (weight, bias) -> { weight; bias }) (Weights.load path))
let save_params path p = Weights.save path (List.map (fun l -> (l.weight, l.bias)) (to_list p))

let main () =
  let cfg = Cli.parse ~row:"ocaml" ~doc:"Train the SPEC.md MLP on MNIST with hand-written backprop in OCaml." () in
  (* openblas_get_config () is "OpenBLAS 0.3.21 DYNAMIC_ARCH ...": its second word is the version *)
  let version = match String.split_on_char ' ' (openblas_config ()) with _ :: v :: _ -> v | _ -> "unknown" in
  Log.start ~row:"ocaml" ~framework:("openblas/" ^ version) ();
  match cfg.predict with
  | Some images -> Array.iteri Log.predict (predict (load_params (Option.get cfg.init)) (Data.read_images images))
  | None ->
      Log.config cfg;
      let splits, seconds = Data.load cfg in
      Log.data splits seconds;
      let rng = Random.State.make [| cfg.seed |] in
      let params = match cfg.init with Some path -> load_params path | None -> init_params rng in
      let zeros_like (_, fan_in, fan_out) = { weight = zeros fan_out fan_in; bias = zeros_vec fan_out } in
      let velocity = of_list (List.map zeros_like layers) in (* SGD's momentum buffers *)
      for epoch = 1 to cfg.epochs do
        let order = Data.epoch_order cfg rng (Array2.dim1 splits.train_x) in
        let started = Unix.gettimeofday () in
        let train_loss, train_acc = train_epoch params velocity splits cfg ~epoch order in
        let seconds = Unix.gettimeofday () -. started in
        check_finite ~epoch train_loss;
        let val_loss, val_acc = evaluate params splits.val_x splits.val_y in
        Log.epoch ~epoch ~train_loss ~train_acc ~val_loss ~val_acc ~seconds
      done;
      let started = Unix.gettimeofday () in
      let test_loss, test_acc = evaluate params splits.test_x splits.test_y in
      Log.test ~test_loss ~test_acc ~seconds:(Unix.gettimeofday () -. started);
      Option.iter (fun path -> save_params path params) cfg.save

let () = run_main main
