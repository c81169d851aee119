# The contract's plumbing (SPEC.md), what mnist_common is for the Python rows: exit statuses and
# the `error:` line (§7), logfmt log lines (§6), the flags (§4), the IDX data files (§1) and the
# safetensors weights file (§5). main.jl includes this file and holds the model and its training.
#
# Standard library only; written for Julia 1.5 as well as current releases.

using Printf

# ---------------------------------------------------------------- errors (SPEC.md §7)
"A flag is unknown, missing its value, or out of range (exit 2)."
struct UsageError <: Exception
    msg::String
end

"A data or weights file is missing, corrupt or of the wrong shape (exit 2)."
struct DataError <: Exception
    msg::String
end

"The training loss became NaN or infinite (exit 3)."
struct Diverged <: Exception
    msg::String
end

const EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED = 0, 2, 3

"Run main(argv) and turn the contract's errors into exit statuses: one `error: ` line, no stack trace."
function run_main(main, argv::Vector{String})
    status, message = EXIT_OK, ""
    try
        main(argv)
    catch error
        if error isa UsageError || error isa DataError
            status, message = EXIT_BAD_INPUT, error.msg
        elseif error isa Diverged
            status, message = EXIT_DIVERGED, error.msg
        elseif error isa InterruptException
            status, message = 130, "interrupted"
        else
            status, message = 1, "internal error: " * replace(sprint(showerror, error), '\n' => ' ')
        end
    end
    if status != EXIT_OK
        flush(stdout)
        println(stderr, "error: ", message)
        flush(stderr)
    end
    return status
end

# ---------------------------------------------------------------- log lines (SPEC.md §6)
"Print one logfmt record on stdout: `event=<name>` then `key=value` pairs in order."
function emit(event::String, fields::Pair...)
    parts = ["event=$event"; ["$(key)=$(value)" for (key, value) in fields]]
    println(stdout, join(parts, " "))
    flush(stdout)
end

f6(x) = @sprintf("%.6f", x)
f3(x) = @sprintf("%.3f", x)
seconds_since(t0::UInt64) = (time_ns() - t0) / 1e9

# ---------------------------------------------------------------- flags (SPEC.md §4)
const DATASETS = ("mnist", "fashion-mnist")
const TRAIN_EXAMPLES = 50_000
const MAX_SEED = 4_294_967_295

mutable struct Args
    dataset::String
    data_dir::String
    epochs::Int
    batch_size::Int
    lr::Float64
    momentum::Float64
    seed::Int
    limit_train::Int
    shuffle::Bool
    init::Union{Nothing,String}
    load::Union{Nothing,String}
    save::Union{Nothing,String}
    predict::Union{Nothing,String}
end

const USAGE = """
usage: julia/run.sh [options]

Train the SPEC.md MLP (784-512-512-10, ReLU) on MNIST with hand-written Julia backprop.

options:
  --dataset {mnist,fashion-mnist}  which dataset to train on (default: mnist)
  --data-dir DIR        data root holding <dataset>/ (default: \$MNIST_DATA_DIR, else data/)
  --epochs N            passes over the training set; 0 only evaluates (default: 5)
  --batch-size N        examples per SGD step (default: 128)
  --lr X                learning rate (default: 0.05)
  --momentum X          SGD momentum, in [0, 1) (default: 0.9)
  --seed N              seeds initialisation and shuffling, 0..4294967295 (default: 0)
  --limit-train N       train on the first N training examples only, 1..50000 (default: all 50000)
  --no-shuffle          keep the training examples in file order every epoch
  --init FILE           start from these safetensors weights instead of random ones
  --load FILE           same as --init; with --epochs 0 only evaluates
  --save FILE           write the trained weights to this safetensors file
  --predict IDX_FILE    classify the images of this IDX file (.gz or plain) with the --load weights
                        instead of training
  --help                show this message and exit
"""

function parse_int(flag, text, low, high)
    value = tryparse(Int, text)
    if value === nothing || value < low || value > high
        bound = high == typemax(Int) ? ">= $low" : "in $low..$high"
        throw(UsageError("$flag must be an integer $bound, got '$text'"))
    end
    return value
end

function parse_float(flag, text, ok, wanted)
    value = tryparse(Float64, text)
    if value === nothing || !isfinite(value) || !ok(value)
        throw(UsageError("$flag must be $wanted, got '$text'"))
    end
    return value
end

function nonempty_path(flag, text)
    isempty(text) && throw(UsageError("$flag needs a file name"))
    return text
end

"""Parse and cross-check the flags. Returns `nothing` after printing --help."""
function parse_args(argv::Vector{String})
    args = Args("mnist", "", 5, 128, 0.05, 0.9, 0, TRAIN_EXAMPLES, true, nothing, nothing, nothing, nothing)
    data_dir = nothing
    i = 1
    while i <= length(argv)
        token = argv[i]
        i += 1
        if token == "--help" || token == "-h"
            print(stdout, USAGE)
            return nothing
        end
        startswith(token, "--") || throw(UsageError("unexpected argument '$token' (see --help)"))
        flag, inline = token, nothing
        if occursin('=', token)
            flag, inline = split(token, '='; limit=2)
            flag, inline = String(flag), String(inline)
        end
        if flag == "--no-shuffle"
            inline === nothing || throw(UsageError("--no-shuffle takes no value (see --help)"))
            args.shuffle = false
            continue
        end
        flag in ("--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--momentum", "--seed",
                 "--limit-train", "--init", "--load", "--save", "--predict") ||
            throw(UsageError("unknown flag $flag (see --help)"))
        if inline === nothing
            (i > length(argv) || startswith(argv[i], "--")) &&
                throw(UsageError("$flag needs a value (see --help)"))
            value = argv[i]
            i += 1
        else
            value = inline
        end
        if flag == "--dataset"
            value in DATASETS ||
                throw(UsageError("--dataset must be one of $(join(DATASETS, ", ")), got '$value'"))
            args.dataset = value
        elseif flag == "--data-dir"
            data_dir = nonempty_path(flag, value)
        elseif flag == "--epochs"
            args.epochs = parse_int(flag, value, 0, typemax(Int))
        elseif flag == "--batch-size"
            args.batch_size = parse_int(flag, value, 1, typemax(Int))
        elseif flag == "--lr"
            args.lr = parse_float(flag, value, v -> v > 0, "a number > 0")
        elseif flag == "--momentum"
            args.momentum = parse_float(flag, value, v -> 0 <= v < 1, "a number in [0, 1)")
        elseif flag == "--seed"
            args.seed = parse_int(flag, value, 0, MAX_SEED)
        elseif flag == "--limit-train"
            args.limit_train = parse_int(flag, value, 1, TRAIN_EXAMPLES)
        elseif flag == "--init"
            args.init = nonempty_path(flag, value)
        elseif flag == "--load"
            args.load = nonempty_path(flag, value)
        elseif flag == "--save"
            args.save = nonempty_path(flag, value)
        elseif flag == "--predict"
            args.predict = nonempty_path(flag, value)
        end
    end
    if args.init !== nothing && args.load !== nothing
        throw(UsageError("--init and --load are the same option; give only one"))
    end
    if args.predict !== nothing && args.load === nothing
        throw(UsageError("--predict needs the weights to classify with: add --load FILE"))
    end
    args.init = something(args.init, args.load, Some(nothing))
    if data_dir === nothing
        data_dir = get(ENV, "MNIST_DATA_DIR", "")
        data_dir = isempty(data_dir) ? "data" : data_dir
    end
    args.data_dir = data_dir
    if args.save !== nothing
        parent = dirname(args.save)
        parent = isempty(parent) ? "." : parent
        isdir(parent) || throw(UsageError("--save: directory $parent does not exist"))
    end
    return args
end

# ---------------------------------------------------------------- IDX data files (SPEC.md §1)
const IMAGE_MAGIC = 0x00000803
const LABEL_MAGIC = 0x00000801
const SIDE = 28
const PIXELS = SIDE * SIDE
const TRAIN_COUNT, TEST_COUNT, VAL_COUNT = 60_000, 10_000, 10_000

"The decompressed bytes of a .gz file, through the system's gzip."
function read_gz(path::String)
    isfile(path) || throw(DataError("$path: file not found"))
    out, err = IOBuffer(), IOBuffer()
    ok = try
        success(pipeline(`gzip -dc -- $path`; stdout=out, stderr=err))
    catch error
        throw(DataError("$path: cannot run gzip to decompress it ($(sprint(showerror, error)))"))
    end
    if !ok
        message = String(take!(err))
        reason = occursin("unexpected end of file", message) ? "truncated" :
                 occursin("not in gzip format", message) ? "not in gzip format" : "corrupt"
        throw(DataError("$path: not a valid gzip file ($reason)"))
    end
    return take!(out)
end

be32(raw, at) = UInt32(raw[at]) << 24 | UInt32(raw[at+1]) << 16 | UInt32(raw[at+2]) << 8 | UInt32(raw[at+3])
hex8(x) = "0x" * string(x; base=16, pad=8)

"IDX3 bytes → Float32 [784, count], each column one image scaled to [0, 1]."
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
    images = Matrix{Float32}(undef, PIXELS, count)
    @inbounds for i in 1:PIXELS*count
        images[i] = Float32(raw[16+i]) / 255f0
    end
    return images
end

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

"One pair of files → (Float32 [784, n] images scaled to [0, 1], Int labels), n checked."
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
    return parse_idx_images(raw, path)
end

# ---------------------------------------------------------------- weights file (SPEC.md §5)
# safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
# The header is parsed by hand (standard library only): a small strict JSON reader.
struct JSONError <: Exception
    msg::String
end

mutable struct JSONReader
    text::Vector{UInt8}
    at::Int
end

function skip_space!(r::JSONReader)
    while r.at <= length(r.text) && r.text[r.at] in (UInt8(' '), UInt8('\t'), UInt8('\n'), UInt8('\r'))
        r.at += 1
    end
end

peek_byte(r::JSONReader) = r.at <= length(r.text) ? r.text[r.at] : throw(JSONError("unexpected end"))

function expect!(r::JSONReader, c::Char)
    skip_space!(r)
    peek_byte(r) == UInt8(c) || throw(JSONError("expected '$c' at byte $(r.at - 1)"))
    r.at += 1
end

function read_value!(r::JSONReader, depth::Int=0)
    depth > 64 && throw(JSONError("nested too deeply"))
    skip_space!(r)
    c = Char(peek_byte(r))
    if c == '{'
        r.at += 1
        object = Dict{String,Any}()
        skip_space!(r)
        if peek_byte(r) == UInt8('}')
            r.at += 1
            return object
        end
        while true
            skip_space!(r)
            peek_byte(r) == UInt8('"') || throw(JSONError("expected a key at byte $(r.at - 1)"))
            key = read_string!(r)
            haskey(object, key) && throw(JSONError("duplicate key $key"))
            expect!(r, ':')
            object[key] = read_value!(r, depth + 1)
            skip_space!(r)
            next = peek_byte(r)
            r.at += 1
            next == UInt8('}') && return object
            next == UInt8(',') || throw(JSONError("expected ',' or '}' at byte $(r.at - 2)"))
        end
    elseif c == '['
        r.at += 1
        array = Any[]
        skip_space!(r)
        if peek_byte(r) == UInt8(']')
            r.at += 1
            return array
        end
        while true
            push!(array, read_value!(r, depth + 1))
            skip_space!(r)
            next = peek_byte(r)
            r.at += 1
            next == UInt8(']') && return array
            next == UInt8(',') || throw(JSONError("expected ',' or ']' at byte $(r.at - 2)"))
        end
    elseif c == '"'
        return read_string!(r)
    elseif c == '-' || isdigit(c)
        start = r.at
        while r.at <= length(r.text) && (isdigit(Char(r.text[r.at])) || Char(r.text[r.at]) in "+-.eE")
            r.at += 1
        end
        word = String(r.text[start:r.at-1])
        value = tryparse(Int, word)
        value === nothing && (value = tryparse(Float64, word))
        value === nothing && throw(JSONError("bad number $word"))
        return value
    else
        for (word, value) in (("true", true), ("false", false), ("null", nothing))
            stop = r.at + length(word) - 1
            if stop <= length(r.text) && String(r.text[r.at:stop]) == word
                r.at = stop + 1
                return value
            end
        end
        throw(JSONError("unexpected character at byte $(r.at - 1)"))
    end
end

function read_string!(r::JSONReader)
    r.at += 1  # the opening quote
    out = IOBuffer()
    while true
        c = peek_byte(r)
        r.at += 1
        if c == UInt8('"')
            break
        elseif c == UInt8('\\')
            e = Char(peek_byte(r))
            r.at += 1
            if e == 'u'
                r.at + 3 <= length(r.text) || throw(JSONError("unexpected end"))
                code = tryparse(UInt16, String(r.text[r.at:r.at+3]); base=16)
                code === nothing && throw(JSONError("bad \\u escape"))
                r.at += 4
                print(out, isvalid(Char, code) ? Char(code) : '\ufffd')
            else
                i = findfirst(isequal(e), "\"\\/bfnrt")
                i === nothing && throw(JSONError("bad escape \\$e"))
                print(out, "\"\\/\b\f\n\r\t"[i])
            end
        elseif c < 0x20
            throw(JSONError("control character in a string"))
        else
            write(out, c)
        end
    end
    text = String(take!(out))
    isvalid(text) || throw(JSONError("a string is not valid UTF-8"))
    return text
end

function parse_json(bytes::Vector{UInt8})
    r = JSONReader(bytes, 1)
    value = read_value!(r)
    skip_space!(r)
    r.at <= length(bytes) && throw(JSONError("trailing characters after the header object"))
    return value
end

const DTYPE_SIZES = Dict("BOOL" => 1, "U8" => 1, "I8" => 1, "F8_E5M2" => 1, "F8_E4M3" => 1, "I16" => 2,
                         "U16" => 2, "F16" => 2, "BF16" => 2, "I32" => 4, "U32" => 4, "F32" => 4,
                         "I64" => 8, "U64" => 8, "F64" => 8)

is_count(x) = x isa Int && x >= 0

"The contract's six tensors (SPEC.md §5), PyTorch's names and [out, in] shapes, in file order."
const TENSOR_NAMES = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")
const SHAPES = Dict("fc1.weight" => [512, 784], "fc1.bias" => [512], "fc2.weight" => [512, 512],
                    "fc2.bias" => [512], "fc3.weight" => [10, 512], "fc3.bias" => [10])

is_count(x) = x isa Int && x >= 0

"""Read and check a weights file: exactly the six tensors, F32, of the contract's shapes.
Returns name => array, a matrix in its PyTorch [out, in] shape (the file is row-major, Julia
column-major: the bytes are the [in, out] matrix, transposed once here)."""
function load_weights(path::String)
    isfile(path) || throw(DataError("$path: weights file not found"))
    bytes = try
        read(path)
    catch error
        throw(DataError("$path: cannot read weights ($(sprint(showerror, error)))"))
    end
    bad(why) = DataError("$path: not a safetensors file ($why)")
    length(bytes) < 8 && throw(bad("shorter than its 8-byte header length"))
    header_length = ltoh(reinterpret(UInt64, bytes[1:8])[1])
    header_length > length(bytes) - 8 && throw(bad("header length $header_length exceeds the file"))
    header = try
        parse_json(bytes[9:8+Int(header_length)])
    catch error
        error isa JSONError || rethrow()
        throw(bad("bad JSON header: $(error.msg)"))
    end
    header isa Dict{String,Any} || throw(bad("the header is not a JSON object"))
    data = view(bytes, 9+Int(header_length):length(bytes))

    # The safetensors format itself: every entry well-formed, the data covered exactly.
    entries = Dict{String,Any}()
    spans = Tuple{Int,Int}[]
    for (name, entry) in header
        name == "__metadata__" && continue
        ok = entry isa Dict{String,Any} && get(entry, "dtype", nothing) isa String &&
             haskey(DTYPE_SIZES, entry["dtype"]) && get(entry, "shape", nothing) isa Vector{Any} &&
             all(is_count, entry["shape"]) && get(entry, "data_offsets", nothing) isa Vector{Any} &&
             length(entry["data_offsets"]) == 2 && all(is_count, entry["data_offsets"])
        ok || throw(bad("tensor $name has a malformed header entry"))
        first_byte, stop = entry["data_offsets"]
        expected = DTYPE_SIZES[entry["dtype"]] * prod(Int[entry["shape"]...])
        (first_byte <= stop <= length(data) && stop - first_byte == expected) ||
            throw(bad("tensor $name: data offsets do not match its dtype and shape"))
        entries[name] = entry
        push!(spans, (first_byte, stop))
    end
    covered = 0
    for (first_byte, stop) in sort!(spans)
        first_byte == covered || throw(bad("the tensors do not cover the data without gaps or overlaps"))
        covered = stop
    end
    covered == length(data) || throw(bad("the tensors do not cover the data without gaps or overlaps"))

    # The contract: these six tensors, F32, these shapes.
    for name in TENSOR_NAMES
        haskey(entries, name) || throw(DataError("$path: weights file lacks tensor $name"))
    end
    for name in sort!(collect(keys(entries)))
        name in TENSOR_NAMES || throw(DataError("$path: weights file has unexpected tensor $name"))
    end
    tensors = Dict{String,Array{Float32}}()
    for name in TENSOR_NAMES
        entry = entries[name]
        entry["dtype"] == "F32" || throw(DataError("$path: tensor $name is $(entry["dtype"]), expected F32"))
        shape = Int[entry["shape"]...]
        shape == SHAPES[name] ||
            throw(DataError("$path: tensor $name has shape $shape, expected $(SHAPES[name])"))
        first_byte, stop = entry["data_offsets"]
        flat = ltoh.(reinterpret(Float32, data[first_byte+1:stop]))
        tensors[name] = length(shape) == 2 ? permutedims(reshape(flat, shape[2], shape[1])) : Vector{Float32}(flat)
    end
    return tensors
end

"Write the six tensors (name => array in PyTorch's shape) as F32 safetensors, row-major."
function save_weights(path::String, tensors::Dict{String,Array{Float32}})
    entries, offset = String[], 0
    for name in TENSOR_NAMES
        nbytes = 4 * length(tensors[name])
        shape = join(SHAPES[name], ",")
        push!(entries, "\"$name\":{\"dtype\":\"F32\",\"shape\":[$shape],\"data_offsets\":[$offset,$(offset + nbytes)]}")
        offset += nbytes
    end
    header = "{" * join(entries, ",") * "}"
    header *= " "^((8 - sizeof(header) % 8) % 8)  # pad so the data starts 8-byte aligned
    try
        open(path, "w") do io
            write(io, htol(UInt64(sizeof(header))))
            write(io, header)
            for name in TENSOR_NAMES
                tensor = tensors[name]
                # Column-major [in, out] is row-major [out, in]: the file's layout.
                write(io, htol.(tensor isa Matrix ? permutedims(tensor) : tensor))
            end
        end
    catch error
        error isa SystemError || error isa Base.IOError || rethrow()
        throw(DataError("$path: cannot write weights ($(sprint(showerror, error)))"))
    end
end
