# The IDX data files (SPEC.md §1): gzip-compressed, big-endian headers, every check of the SPEC
# (magic, 28x28, payload length, counts, labels 0-9), and the train / validation / test split.
# Images come back as Float32 [784, n], one image per *column* (Julia arrays are column-major):
# the file's row-major [n, 784] bytes are exactly that matrix.

const IMAGE_MAGIC = 0x00000803
const LABEL_MAGIC = 0x00000801
const SIDE = 28
const PIXELS = SIDE * SIDE
const TRAIN_COUNT, TEST_COUNT, VAL_COUNT = 60_000, 10_000, 10_000

"The decompressed bytes of a .gz file, through the system's gzip."
function read_gz(path::String)
    isfile(path) || throw(DataError("$path: file not found"))
    # Read gzip's output and messages from pipes to their end: an IOBuffer as the process's stdout
    # is filled by a task that may not have finished when the process has (Julia 1.5).
    out, err = Pipe(), Pipe()
    process = try
        run(pipeline(`gzip -dc -- $path`; stdout=out, stderr=err); wait=false)
    catch error
        throw(DataError("$path: cannot run gzip to decompress it ($(sprint(showerror, error)))"))
    end
    close(out.in); close(err.in)
    message_task = @async read(err, String)
    bytes = read(out)
    wait(process)
    message = fetch(message_task)
    if !success(process)
        reason = occursin("unexpected end of file", message) ? "truncated" :
                 occursin("not in gzip format", message) ? "not in gzip format" : "corrupt"
        throw(DataError("$path: not a valid gzip file ($reason)"))
    end
    return bytes
end

be32(raw, at) = UInt32(raw[at]) << 24 | UInt32(raw[at+1]) << 16 | UInt32(raw[at+2]) << 8 | UInt32(raw[at+3])
hex8(x) = "0x" * string(x; base=16, pad=8)

"IDX3 bytes, checked → their pixels as UInt8 [784, count], each column one image (no copy)."
function parse_idx_images(raw::Vector{UInt8}, name::String)
    length(raw) < 16 && throw(DataError("$name: too short for an IDX image header ($(length(raw)) bytes)"))
    magic, count, rows, cols = be32(raw, 1), Int(be32(raw, 5)), Int(be32(raw, 9)), Int(be32(raw, 13))
    magic == IMAGE_MAGIC ||
        throw(DataError("$name: not an IDX image file (magic $(hex8(magic)), expected $(hex8(IMAGE_MAGIC)))"))
    (rows, cols) == (SIDE, SIDE) || throw(DataError("$name: images are $(rows)x$(cols), expected $(SIDE)x$(SIDE)"))
    length(raw) - 16 == count * PIXELS ||
        throw(DataError("$name: header says $count images, but holds $(length(raw) - 16) pixel bytes " *
                        "(expected $(count * PIXELS))"))
    # The file is row-major [count, 784]: the same bytes are a column-major [784, count].
    return reshape(view(raw, 17:length(raw)), PIXELS, count)
end

"""Pixels → Float32 in [0, 1]. A broadcast, so that Base's loop (compiled at its own -O2, vectorised)
does the scaling, not one compiled at this module's -O1 (three times slower)."""
scaled(pixels::AbstractMatrix{UInt8}) = pixels ./ 255f0

"IDX1 bytes → labels 0–9 as Int."
function parse_idx_labels(raw::Vector{UInt8}, name::String)
    length(raw) < 8 && throw(DataError("$name: too short for an IDX label header ($(length(raw)) bytes)"))
    magic, count = be32(raw, 1), Int(be32(raw, 5))
    magic == LABEL_MAGIC ||
        throw(DataError("$name: not an IDX label file (magic $(hex8(magic)), expected $(hex8(LABEL_MAGIC)))"))
    length(raw) - 8 == count ||
        throw(DataError("$name: header says $count labels, but holds $(length(raw) - 8) bytes"))
    labels = Int.(raw[9:end])
    for label in labels
        label > 9 && throw(DataError("$name: label $label is out of range 0-9"))
    end
    return labels
end

"One pair of files → (UInt8 [784, n] pixels, Int labels), n checked."
function read_split(directory, images_file, labels_file, expected)
    images_path, labels_path = joinpath(directory, images_file), joinpath(directory, labels_file)
    images = parse_idx_images(read_gz(images_path), images_path)
    labels = parse_idx_labels(read_gz(labels_path), labels_path)
    if size(images, 2) != expected || length(labels) != expected
        throw(DataError("$images_path: holds $(size(images, 2)) images and $labels_file $(length(labels)) " *
                        "labels, expected $expected of each"))
    end
    return images, labels
end

"An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's magic) → Float32 [784, n]."
function read_images(path::String)
    isfile(path) || throw(DataError("$path: file not found"))
    raw = try
        read(path)
    catch error
        error isa SystemError || rethrow()
        throw(DataError("$path: cannot read ($(sprint(showerror, error)))"))
    end
    length(raw) >= 2 && raw[1:2] == [0x1f, 0x8b] && (raw = read_gz(path))
    return scaled(parse_idx_images(raw, path))
end

"""Read the dataset `args.dataset` under `args.data_dir` and split it as SPEC.md §1 says, by
position: training-file examples 1–50,000 train (the first `args.limit_train` of them), the other
10,000 validate, t10k tests. Prints the `data` progress line first. Returns the splits
(train_x, train_y, val_x, val_y, test_x, test_y; labels as Int 0–9) and the seconds it took."""
function load_mnist(args::Args)
    progress_data(args.dataset)
    t0 = time_ns()
    directory = joinpath(args.data_dir, args.dataset)
    isdir(directory) ||
        throw(DataError("data directory $directory not found: run `invoke data`, or point --data-dir / " *
                        "MNIST_DATA_DIR at the folder that holds $(args.dataset)/"))
    train_x, train_y = read_split(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_COUNT)
    test_x, test_y = read_split(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_COUNT)
    split, limit = TRAIN_COUNT - VAL_COUNT, args.limit_train
    # Scaled once every file has passed its checks, and only the examples the run uses.
    data = (train_x=scaled(view(train_x, :, 1:limit)), train_y=train_y[1:limit],
            val_x=scaled(view(train_x, :, split+1:TRAIN_COUNT)), val_y=train_y[split+1:end],
            test_x=scaled(test_x), test_y=test_y)
    return data, seconds_since(t0)
end
