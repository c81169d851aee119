(* Whole files as strings, plain or gzip-compressed; a missing, unreadable, truncated or
   corrupt file is a Data_error naming it. *)
open Errors

(* A whole file's bytes. *)
let read_file path =
  if Sys.is_directory path then data_error "%s: cannot read (is a directory)" path;
  try
    let ic = open_in_bin path in
    Fun.protect ~finally:(fun () -> close_in ic) (fun () -> really_input_string ic (in_channel_length ic))
  with Sys_error reason -> data_error "%s: cannot read (%s)" path reason

(* The decompressed bytes of a .gz file (camlzip checks the CRC and length at the end). *)
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

(* A file that may be gzip-compressed or plain, told apart by gzip's first bytes 1f 8b. *)
let read_maybe_gz path =
  if not (Sys.file_exists path) then data_error "%s: file not found" path;
  let raw = read_file path in
  if String.starts_with ~prefix:"\x1f\x8b" raw then read_gz path else raw
