(* SPEC.md §1: the IDX files, checked, as float32 images in [0, 1] and integer labels, split
   into train / validation / test by position. *)
open Bigarray
open Errors

type mat = (float, float32_elt, c_layout) Array2.t

let image_magic = 0x00000803
let label_magic = 0x00000801
let side = 28
let pixels = side * side (* 784: an image flattened row by row *)
let train_count, test_count, val_count = (60_000, 10_000, 10_000)

type splits = {
  train_x : mat; train_y : int array; (* [n, 784] and n labels, n = --limit-train *)
  val_x : mat; val_y : int array; (* training-file examples 50,000-59,999 *)
  test_x : mat; test_y : int array; (* the 10,000 t10k examples *)
}

let be32 raw at = Int32.to_int (String.get_int32_be raw at) land 0xFFFF_FFFF

(* IDX3 bytes -> float32 [count, 784] scaled to [0, 1]; name is the file, for errors. *)
let parse_images name raw =
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
let parse_labels name raw =
  let len = String.length raw in
  if len < 8 then data_error "%s: too short for an IDX label header (%d bytes)" name len;
  let magic = be32 raw 0 and count = be32 raw 4 in
  if magic <> label_magic then
    data_error "%s: not an IDX label file (magic 0x%08x, expected 0x%08x)" name magic label_magic;
  if len - 8 <> count then data_error "%s: header says %d labels, but holds %d bytes" name count (len - 8);
  let labels = Array.init count (fun i -> Char.code raw.[8 + i]) in
  Array.iter (fun l -> if l > 9 then data_error "%s: label %d is out of range 0-9" name l) labels;
  labels

(* The images of an IDX file for --predict, gzip-compressed or plain. *)
let read_images path = parse_images path (Files.read_maybe_gz path)

(* One pair of .gz files -> (float32 [n, 784], labels [n]), n = expected. *)
let read_split directory images_file labels_file expected =
  let images_path = Filename.concat directory images_file and labels_path = Filename.concat directory labels_file in
  let images = parse_images images_path (Files.read_gz images_path) in
  let labels = parse_labels labels_path (Files.read_gz labels_path) in
  if Array2.dim1 images <> expected || Array.length labels <> expected then
    data_error "%s: holds %d images and %s %d labels, expected %d of each" images_path (Array2.dim1 images)
      labels_file (Array.length labels) expected;
  (images, labels)

(* The splits of the run's dataset (views into the training file, not copies) and the seconds
   spent reading and decoding them. Prints the progress line stage=data first. *)
let load (cfg : Cli.config) =
  Progress.data cfg.dataset;
  let started = Unix.gettimeofday () in
  let directory = Filename.concat cfg.data_dir cfg.dataset in
  if not (Sys.file_exists directory && Sys.is_directory directory) then
    data_error "data directory %s not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder that holds %s/"
      directory cfg.dataset;
  let train_x, train_y = read_split directory "train-images-idx3-ubyte.gz" "train-labels-idx1-ubyte.gz" train_count in
  let test_x, test_y = read_split directory "t10k-images-idx3-ubyte.gz" "t10k-labels-idx1-ubyte.gz" test_count in
  let split = train_count - val_count and limit = cfg.limit_train in
  ( { train_x = Array2.sub_left train_x 0 limit; train_y = Array.sub train_y 0 limit;
      val_x = Array2.sub_left train_x split val_count; val_y = Array.sub train_y split val_count;
      test_x; test_y },
    Unix.gettimeofday () -. started )

(* An epoch's order of the n training examples (SPEC.md §3): a fresh uniformly random
   permutation drawn from rng (Fisher-Yates), or file order with --no-shuffle. *)
let epoch_order (cfg : Cli.config) rng n =
  let order = Array.init n Fun.id in
  if cfg.shuffle then
    for i = n - 1 downto 1 do
      let j = Random.State.int rng (i + 1) in
      let t = order.(i) in
      order.(i) <- order.(j);
      order.(j) <- t
    done;
  order
