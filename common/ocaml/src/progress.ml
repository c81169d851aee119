(* SPEC.md §6 "Progress (stderr)": how far a run is, for a person watching, as logfmt lines
   `event=progress stage=...` on stderr. The runner shows them live and never parses results
   from them; they change nothing on stdout. *)

let min_interval = 0.25 (* seconds between two progress lines, at least (stage=train) *)

(* Where the lines go and what the time is: stderr and the wall clock, replaceable by tests. *)
let sink = ref (fun line -> prerr_string line; prerr_newline ())
let clock = ref Unix.gettimeofday
let last = ref neg_infinity (* when the previous progress line was printed *)

let emit stage fields =
  last := !clock ();
  !sink (String.concat " " (("event=progress" :: ("stage=" ^ stage) :: List.map (fun (k, v) -> k ^ "=" ^ v) fields)))

(* Once, as soon as the flags are parsed (Cli.parse prints it). *)
let start row = emit "start" [ ("row", row) ]

(* Once, before the data files are read (Data.load prints it). *)
let data dataset = emit "data" [ ("dataset", dataset) ]

(* Once, before compilation or tracing, for rows that print a warmup line. *)
let warmup () = emit "warmup" []

(* After each training batch: printed only when min_interval has passed since the previous
   progress line, so reading the clock is all that most batches pay. batch counts from 1;
   loss is the mean training loss over the epoch's examples so far. *)
let train ~epoch ~epochs ~batch ~batches ~loss =
  if !clock () -. !last >= min_interval then
    emit "train"
      [ ("epoch", string_of_int epoch); ("epochs", string_of_int epochs); ("batch", string_of_int batch);
        ("batches", string_of_int batches); ("loss", Printf.sprintf "%.6f" loss) ]
