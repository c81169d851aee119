(* SPEC.md §4: the contract's flags, parsed by Cmdliner and checked against their ranges.

   Cmdliner answers --help (a man page; plain text when stdout is not a terminal) and the
   flag syntax; the converters below check each value. Its multi-line error report becomes
   the contract's one line, `error: <what is wrong> (see --help)`, exit status 2. *)
open Cmdliner
open Errors

type config = {
  dataset : string; (* mnist | fashion-mnist *)
  data_dir : string; (* --data-dir, else $MNIST_DATA_DIR, else data/ *)
  epochs : int;
  batch_size : int;
  lr : float;
  momentum : float;
  seed : int; (* 0 .. 2^32-1: fits an OCaml int (63 bits) *)
  limit_train : int;
  shuffle : bool;
  init : string option; (* --init or --load: the same weights file *)
  save : string option;
  predict : string option;
}

let datasets = [ "mnist"; "fashion-mnist" ]
let train_examples = 50_000
let max_seed = 4294967295

(* ---------------------------------------------------------------- value checks *)
let is_digits s = s <> "" && String.for_all (function '0' .. '9' -> true | _ -> false) s

(* An integer in [low, high] written as plain decimal digits, with an optional sign. *)
let int_in flag ?high low text =
  let body = if text <> "" && (text.[0] = '+' || text.[0] = '-') then String.sub text 1 (String.length text - 1) else text in
  let wanted = match high with None -> Printf.sprintf ">= %d" low | Some h -> Printf.sprintf "in %d..%d" low h in
  let fail () = usage_error "%s must be an integer %s, got %s" flag wanted text in
  if not (is_digits body) || String.length body > 12 then fail ();
  let value = int_of_string (if text.[0] = '+' then body else text) in
  if value < low || match high with Some h -> value > h | None -> false then fail ();
  value

(* A finite number in the usual decimal forms (0.05, .5, 5., 5e-2) that satisfies check; not
   inf, nan, 1_0 or 0x10, which float_of_string would take. *)
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

let one_of flag choices text =
  if List.mem text choices then text
  else usage_error "%s must be one of %s, got %s" flag (String.concat ", " choices) text

(* ---------------------------------------------------------------- the flags *)
(* A Cmdliner converter from a check above: its message already names the flag. *)
let checked check print =
  Arg.conv ((fun text -> try Ok (check text) with Usage_error msg -> Error (`Msg msg)), print)

(* --flag VALUE; given twice, the last one counts (as with argparse). *)
let option converter default flag docv doc =
  let long = String.sub flag 2 (String.length flag - 2) in
  let last values = List.fold_left (fun _ v -> v) default values in
  Term.(const last $ Arg.(value & opt_all converter [] & info [ long ] ~docv ~doc))

let int_flag flag ?high low default doc =
  option (checked (int_in flag ?high low) Format.pp_print_int) default flag "N" doc

let number_flag flag check wanted default doc =
  option (checked (number_in flag check wanted) Format.pp_print_float) default flag "X" doc

let file_flag flag docv doc = option Arg.(some string) None flag docv doc

(* Every contract flag as one Cmdliner term; parse adds the checks that involve two flags. *)
let term =
  let make dataset data_dir epochs batch_size lr momentum seed limit_train no_shuffle init load save predict =
    (dataset, data_dir, epochs, batch_size, lr, momentum, seed, limit_train, not no_shuffle, (init, load), save, predict)
  in
  Term.(
    const make
    $ option (checked (one_of "--dataset" datasets) Format.pp_print_string) "mnist" "--dataset" "NAME"
        "mnist | fashion-mnist (default: mnist)"
    $ file_flag "--data-dir" "DIR" "data root holding <dataset>/ (default: \\$MNIST_DATA_DIR, else data/)"
    $ int_flag "--epochs" 0 5 "passes over the training set; 0 only evaluates (default: 5)"
    $ int_flag "--batch-size" 1 128 "examples per SGD step (default: 128)"
    $ number_flag "--lr" (fun v -> v > 0.) "a number > 0" 0.05 "learning rate (default: 0.05)"
    $ number_flag "--momentum" (fun v -> v >= 0. && v < 1.) "a number in [0, 1)" 0.9 "SGD momentum (default: 0.9)"
    $ int_flag "--seed" ~high:max_seed 0 0 "seeds initialisation and shuffling (default: 0)"
    $ int_flag "--limit-train" ~high:train_examples 1 train_examples
        "train on the first N training examples only (default: all 50000)"
    $ Arg.(value & flag & info [ "no-shuffle" ] ~doc:"keep the training examples in file order every epoch")
    $ file_flag "--init" "FILE" "start from these safetensors weights instead of random ones"
    $ file_flag "--load" "FILE" "same as --init; with --epochs 0 only evaluates"
    $ file_flag "--save" "FILE" "write the trained weights to this safetensors file"
    $ file_flag "--predict" "IDX_FILE"
        "classify the images of this IDX file (.gz or plain) with the --load weights instead of training")

let value_flags =
  [ "--dataset"; "--data-dir"; "--epochs"; "--batch-size"; "--lr"; "--momentum"; "--seed"; "--limit-train";
    "--init"; "--load"; "--save"; "--predict" ]

(* Before Cmdliner sees them: a flag's value goes with it unless it starts with --, so
   `--batch-size -5` is a bad batch size, not an unknown option -5; a flag must be spelled out
   in full (Cmdliner would take --batch for --batch-size); --help is plain text unless stdout
   is a terminal (then Cmdliner's man page in a pager). *)
let normalise argv =
  let rec go = function
    | [] -> []
    | "--" :: rest -> "--" :: rest
    | arg :: rest when String.starts_with ~prefix:"--" arg -> (
        let name = match String.index_opt arg '=' with Some i -> String.sub arg 0 i | None -> arg in
        if name = "--help" then (if arg = "--help" && not (Unix.isatty Unix.stdout) then "--help=plain" else arg) :: go rest
        else if not (List.mem name ("--no-shuffle" :: value_flags)) then usage_error "unknown option '%s' (see --help)" name
        else
          match rest with
          | value :: rest when arg = name && List.mem name value_flags && not (String.starts_with ~prefix:"--" value) ->
              (name ^ "=" ^ value) :: go rest
          | _ -> arg :: go rest)
    | arg :: rest -> arg :: go rest
  in
  Array.of_list (match Array.to_list argv with prog :: args -> prog :: go args | [] -> [ "main.exe" ])

(* Cmdliner's report, "<prog>: option '--lr': --lr must be ...\nUsage: ...", as the one line
   "--lr must be ...". *)
let one_line report =
  let line = List.hd (String.split_on_char '\n' report) in
  let line = match String.index_opt line ':' with Some i -> String.sub line (i + 1) (String.length line - i - 1) | None -> line in
  let line = String.trim line in
  let line = if String.ends_with ~suffix:"." line then String.sub line 0 (String.length line - 1) else line in
  match String.split_on_char '\'' line with
  | "option " :: flag :: rest ->
      (* a converter's message names the flag already: keep only that message *)
      let rest = String.concat "'" rest in
      if String.starts_with ~prefix:(": " ^ flag) rest then String.sub rest 2 (String.length rest - 2) else line
  | _ -> line

(* The flags of this run, checked; a bad one raises Usage_error. --help prints the usage on
   stdout and exits 0. Prints the progress line stage=start for ~row once the flags are good. *)
let parse ?(argv = Sys.argv) ~row ~doc () =
  let argv = normalise argv in
  let report = Buffer.create 256 in
  let err = Format.formatter_of_buffer report in
  Format.pp_set_margin err 10_000 (* Cmdliner wraps its message at the margin: keep it one line *);
  let cmd = Cmd.v (Cmd.info (Filename.basename argv.(0)) ~doc) term in
  match Cmd.eval_value ~argv ~err ~catch:false cmd with
  | Ok (`Help | `Version) -> exit 0
  | Error _ ->
      Format.pp_print_flush err ();
      usage_error "%s (see --help)" (one_line (Buffer.contents report))
  | Ok (`Ok (dataset, data_dir, epochs, batch_size, lr, momentum, seed, limit_train, shuffle, (init, load), save, predict)) ->
      if init <> None && load <> None then usage_error "--init and --load are the same option; give only one";
      if predict <> None && load = None then usage_error "--predict needs the weights to classify with: add --load FILE";
      Option.iter
        (fun path ->
          let parent = Filename.dirname path in
          if not (Sys.file_exists parent && Sys.is_directory parent) then usage_error "--save: directory %s does not exist" parent)
        save;
      let data_dir =
        match (data_dir, Sys.getenv_opt "MNIST_DATA_DIR") with
        | Some dir, _ -> dir
        | None, Some dir when dir <> "" -> dir
        | _ -> "data"
      in
      Progress.start row;
      { dataset; data_dir; epochs; batch_size; lr; momentum; seed; limit_train; shuffle;
        init = (if init <> None then init else load); save; predict }
