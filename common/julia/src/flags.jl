# The flags (SPEC.md §4), parsed by hand: Julia's package registry (ArgParse.jl) is not reachable
# from this project's machines. `--flag value` and `--flag=value`; integers and decimal numbers
# (`0.05`, `5e-2`) range-checked; `--init`/`--load` exclusive; `--predict` needs `--load`;
# `--save`'s directory must exist. Any mistake is a UsageError (exit 2).

const DATASETS = ("mnist", "fashion-mnist")
const TRAIN_EXAMPLES = 50_000
const MAX_SEED = 4_294_967_295

"The parsed flags. `init` is the weights file of --init or --load (nothing: random weights)."
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

"The --help text of row `row` (run as `<row>/run.sh`), `description` saying what the row does."
usage_text(row::String, description::String) = """
usage: $row/run.sh [options]

$description

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

"""Parse and cross-check the flags. Returns `nothing` after printing `usage` for --help."""
function parse_args(argv::Vector{String}; usage::String=usage_text("julia", "Train the SPEC.md MLP on MNIST."))
    args = Args("mnist", "", 5, 128, 0.05, 0.9, 0, TRAIN_EXAMPLES, true, nothing, nothing, nothing, nothing)
    data_dir = nothing
    i = 1
    while i <= length(argv)
        token = argv[i]
        i += 1
        if token == "--help" || token == "-h"
            print(stdout, usage)
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
