(* SPEC.md §5: the weights file, safetensors with exactly the contract's six float32 tensors in
   PyTorch's layout. A layer is (weight [out, in], bias [out]), in the order fc1, fc2, fc3. *)
open Bigarray
open Errors

type mat = (float, float32_elt, c_layout) Array2.t
type vec = (float, float32_elt, c_layout) Array1.t

(* name, fan_in, fan_out of each nn.Linear layer *)
let layers = [ ("fc1", 784, 512); ("fc2", 512, 512); ("fc3", 512, 10) ]

let tensor_shapes =
  List.concat_map (fun (name, fan_in, fan_out) -> [ (name ^ ".weight", [ fan_out; fan_in ]); (name ^ ".bias", [ fan_out ]) ]) layers

let dtype_sizes =
  [ ("BOOL", 1); ("U8", 1); ("I8", 1); ("F8_E5M2", 1); ("F8_E4M3", 1); ("I16", 2); ("U16", 2); ("F16", 2);
    ("BF16", 2); ("I32", 4); ("U32", 4); ("F32", 4); ("I64", 8); ("U64", 8); ("F64", 8) ]

let shape_string dims = "[" ^ String.concat ", " (List.map string_of_int dims) ^ "]"

(* A weight matrix seen as one flat vector (the same memory). *)
let flat (m : mat) : vec = reshape_1 (genarray_of_array2 m) (Array2.dim1 m * Array2.dim2 m)

(* Read and check a safetensors file: the format (header length, JSON, each entry's dtype, shape
   and offsets, unique names, tensors tiling the data exactly), then the contract's names,
   dtype and shapes. Any fault is a Data_error naming the file. *)
let load path : (mat * vec) list =
  if not (Sys.file_exists path) || Sys.is_directory path then data_error "%s: weights file not found" path;
  let bytes = Files.read_file path in
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
  let entry name = function
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
            (dtype, dims, first, last)
        | _ -> bad "tensor %s: malformed entry" name)
    | _ -> bad "tensor %s: malformed entry" name
  in
  let entries =
    List.filter_map (fun (name, value) -> if name = "__metadata__" then None else Some (name, entry name value)) header
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
  List.map
    (fun (name, fan_in, fan_out) ->
      (reshape_2 (genarray_of_array1 (tensor (name ^ ".weight"))) fan_out fan_in, tensor (name ^ ".bias")))
    layers

(* Write the three layers as float32 safetensors (the header padded with spaces to 8 bytes). *)
let save path (params : (mat * vec) list) =
  let tensors = List.concat_map (fun (weight, bias) -> [ flat weight; bias ]) params in
  if List.map (fun t -> Array1.dim t) tensors <> List.map (fun (_, dims) -> List.fold_left ( * ) 1 dims) tensor_shapes then
    invalid_arg "Weights.save: the layers do not have the contract's shapes";
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
