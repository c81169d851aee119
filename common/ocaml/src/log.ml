(* SPEC.md §6: the log lines on stdout, one typed function per event. Each line is logfmt
   (`event=<name> key=value ...`) and flushed as it is printed. *)

(* Where the lines go: stdout, flushed (print_newline flushes); replaceable by tests. *)
let sink = ref (fun line -> print_string line; print_newline ())

let emit event fields = !sink (String.concat " " (("event=" ^ event) :: List.map (fun (k, v) -> k ^ "=" ^ v) fields))

let f6 = Printf.sprintf "%.6f" (* losses, accuracies, probabilities *)
let f3 = Printf.sprintf "%.3f" (* seconds *)
let flag b = if b then "1" else "0"

(* A float as Python's repr writes it (0.05, 0.9, 10000.0, 1e-05), so every row's config line
   reads the same: the shortest digits that read back as the same number, positional unless
   the exponent is below -4 or at least 16. *)
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

(* framework is name/version, e.g. openblas/0.3.21, or none. *)
let start ~row ~framework ?(device = "cpu") () =
  emit "start" [ ("row", row); ("language", "ocaml/" ^ Sys.ocaml_version); ("framework", framework); ("device", device) ]

let config (cfg : Cli.config) =
  emit "config"
    [ ("dataset", cfg.dataset); ("epochs", string_of_int cfg.epochs); ("batch_size", string_of_int cfg.batch_size);
      ("lr", py_repr cfg.lr); ("momentum", py_repr cfg.momentum); ("seed", string_of_int cfg.seed);
      ("limit_train", string_of_int cfg.limit_train); ("shuffle", flag cfg.shuffle); ("init", flag (cfg.init <> None)) ]

let data (splits : Data.splits) seconds =
  let count = Bigarray.Array2.dim1 in
  emit "data"
    [ ("train", string_of_int (count splits.train_x)); ("val", string_of_int (count splits.val_x));
      ("test", string_of_int (count splits.test_x)); ("seconds", f3 seconds) ]

let warmup seconds = emit "warmup" [ ("seconds", f3 seconds) ]

let epoch ~epoch ~train_loss ~train_acc ~val_loss ~val_acc ~seconds =
  emit "epoch"
    [ ("epoch", string_of_int epoch); ("train_loss", f6 train_loss); ("train_acc", f6 train_acc);
      ("val_loss", f6 val_loss); ("val_acc", f6 val_acc); ("seconds", f3 seconds) ]

let test ~test_loss ~test_acc ~seconds =
  emit "test" [ ("test_loss", f6 test_loss); ("test_acc", f6 test_acc); ("seconds", f3 seconds) ]

(* One image's class (the most probable digit, the lowest on a tie) and its probabilities. *)
let predict index probabilities =
  let best = ref 0 in
  Array.iteri (fun d p -> if p > probabilities.(!best) then best := d) probabilities;
  emit "predict"
    (("index", string_of_int index) :: ("class", string_of_int !best)
    :: List.mapi (fun d p -> ("p" ^ string_of_int d, f6 p)) (Array.to_list probabilities))
