(* The contract (SPEC.md) for OCaml rows, once: a row's main.ml holds only the learning code.

     Cli       the flags (§4), by Cmdliner, as a checked config record
     Data      the IDX files (§1) as float32 Bigarrays, split; the epoch's shuffled order (§3)
     Weights   the safetensors weights file (§5), read and written
     Log       the log lines on stdout (§6), one typed function per event
     Progress  the progress lines on stderr (§6), rate-limited
     Errors    exit statuses and the one-line `error: ...` messages (§7) *)

module Cli = Cli
module Data = Data
module Weights = Weights
module Log = Log
module Progress = Progress
module Errors = Errors

(* Runs a row's main function: exit 0, or one `error: ...` line and the contract's status. *)
let run_main = Errors.run_main

(* Ends the run with exit status 3 when an epoch's training loss is not finite (§3). *)
let check_finite = Errors.check_finite
