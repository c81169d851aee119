(* SPEC.md §7: a user's mistake is one `error: ...` line on stderr and exit status 2; a diverged
   run is exit status 3; nothing ever ends in an OCaml backtrace. *)

exception Usage_error of string (* a bad flag: exit 2 *)
exception Data_error of string (* a missing or malformed data, weights or --predict file: exit 2 *)
exception Diverged of string (* a non-finite training loss: exit 3 *)

let usage_error fmt = Printf.ksprintf (fun msg -> raise (Usage_error msg)) fmt
let data_error fmt = Printf.ksprintf (fun msg -> raise (Data_error msg)) fmt

(* Stops the run (exit 3) when an epoch's training loss is not finite. *)
let check_finite ~epoch loss =
  if not (Float.is_finite loss) then
    raise
      (Diverged
         (Printf.sprintf "training diverged in epoch %d: the training loss is %s; try a smaller --lr" epoch
            (if Float.is_nan loss then "nan" else Printf.sprintf "%g" loss)))

(* The exit status and message for an exception that ends a run. *)
let status_of = function
  | Usage_error msg | Data_error msg -> (2, msg)
  | Diverged msg -> (3, msg)
  | Sys.Break -> (130, "interrupted")
  | Out_of_memory -> (1, "out of memory")
  | e -> (1, "internal error: " ^ Printexc.to_string e)

(* Runs a row's main: exit 0 when it returns, else one `error: ...` line and the status above. *)
let run_main main =
  Sys.catch_break true;
  match main () with
  | () -> exit 0
  | exception e ->
      let status, msg = status_of e in
      flush stdout;
      prerr_endline ("error: " ^ msg);
      exit status
