# The contract's plumbing for Julia rows (SPEC.md), what mnist_common is for the Python rows:
# exit statuses and the `error:` line (§7), the flags (§4), the log lines and progress lines (§6),
# the IDX data files (§1) and the safetensors weights file (§5). A row loads it and holds only its
# model and training:
#
#     using MnistContract
#
# common/julia/julia.sh, which runs every Julia program of this project, puts this folder on
# JULIA_LOAD_PATH: a package directory, this file its one package. Julia precompiles a package the
# first time it is loaded (and again whenever a source file changes) into ~/.julia/compiled/, and
# the `precompile` directives at the end keep the inferred code of what every run calls, so a run
# compiles only the row's own code: a bad data or weights file is answered in about 0.6 s, not 2.
#
# Standard library only (Julia's package registry is not reachable from this project's machines),
# and written for Julia 1.5 (Debian bullseye's, what julia/setup.sh installs here) as well as
# current releases: no newer-only APIs. Unit tests: test/runtests.jl.
module MnistContract

"""When the row started loading (it loads this module first): Julia compiles the row's code as
it first runs it, and the row counts that compilation in its `warmup` line (SPEC.md §6)."""
const LOADED_NS = Ref{UInt64}(0)
__init__() = (LOADED_NS[] = time_ns())  # at load, not when the package was precompiled

using Printf

# The plumbing runs once per run, the row's training loop millions of times: LLVM's lighter
# optimisation here shortens Julia's compilation before --help and a bad flag are answered.
Base.Experimental.@optlevel 1

export LOADED_NS, UsageError, DataError, Diverged, run_main, read_inputs, check_finite, seconds_since
export Args, parse_args, usage_text
export log_start, log_config, log_data, log_warmup, log_epoch, log_test, log_predict
export progress_start, progress_data, progress_warmup, progress_train
export PIXELS, load_mnist, read_images
export TENSOR_NAMES, load_weights, save_weights

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

const EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 3, 1, 130

"Stop the run (exit 3) when an epoch's training loss is NaN or infinite (SPEC.md §3)."
function check_finite(epoch::Integer, train_loss::Real)
    isfinite(train_loss) ||
        throw(Diverged("training diverged in epoch $epoch: the training loss is $train_loss; try a smaller --lr"))
    return nothing
end

"Seconds elapsed since `t0`, a `time_ns()` reading."
seconds_since(t0::UInt64) = (time_ns() - t0) / 1e9

include("flags.jl")
include("log.jl")
include("idx.jl")
include("safetensors.jl")

"""
    read_inputs(args) -> (data, data_seconds, init, images, seconds)

Everything the run reads, read and checked before the row's own code is compiled (SPEC.md §4): the
`--predict` images and their `--load` weights, or any `--init` weights and the dataset (the `data`
progress line first). A bad file ends the run here with its `error:` line. `seconds` is the whole reading
time, which the row leaves out of its `warmup` (compilation) seconds.
"""
function read_inputs(args::Args)
    t0 = time_ns()
    if args.predict !== nothing
        init, images = load_weights(args.init), read_images(args.predict)
        return (data=nothing, data_seconds=0.0, init=init, images=images, seconds=seconds_since(t0))
    end
    init = args.init !== nothing ? load_weights(args.init) : nothing  # the small file first
    data, data_seconds = load_mnist(args)
    return (data=data, data_seconds=data_seconds, init=init, images=nothing, seconds=seconds_since(t0))
end

"""
    run_main(main, argv; row, description) -> exit status

Run a row: parse the flags (--help prints the usage, `description` saying what the row does),
print the `start` progress line, read the inputs (`read_inputs`), then call `main(args, inputs)`.
The contract's errors become one `error: ` line on stderr, no stack trace, and the exit status of
SPEC.md §7; anything unexpected is `error: internal error: …` with status 1.

`read_inputs` and `main` are called through `invokelatest`, a dynamic call: Julia compiles a
function together with everything it calls, just before it first runs, and the row's `main` is most
of the program. Called statically, `main` would be compiled (seconds on Julia 1.5) before a single
flag is read, and the file readers (about a second) before `--help` is answered; this way `--help`
and a bad flag are answered as soon as the flags are parsed, a bad file as soon as it is read.
"""
function run_main(main, argv::Vector{String}; row::String, description::String)
    status, message = EXIT_OK, ""
    try
        args = parse_args(argv; usage=usage_text(row, description))
        if args !== nothing  # nothing: --help was answered
            progress_start(row)
            inputs = Base.invokelatest(read_inputs, args)
            Base.invokelatest(main, args, inputs)
        end
    catch error
        if error isa UsageError || error isa DataError
            status, message = EXIT_BAD_INPUT, error.msg
        elseif error isa Diverged
            status, message = EXIT_DIVERGED, error.msg
        elseif error isa InterruptException
            status, message = EXIT_INTERRUPTED, "interrupted"
        else
            status, message = EXIT_INTERNAL, "internal error: " * replace(sprint(showerror, error), '\n' => ' ')
        end
    end
    if status != EXIT_OK
        flush(stdout)
        println(stderr, "error: ", message)
        flush(stderr)
    end
    return status
end

# What every run calls, inferred at precompilation (Julia 1.5 keeps inferred code, not machine code):
# the entry points that the row reaches dynamically (--trace-compile lists them), and below them
# the flags, the file readers and writers, and the log lines.
precompile(Tuple{Core.kwftype(typeof(run_main)), NamedTuple{(:row, :description), Tuple{String, String}},
                 typeof(run_main), Function, Vector{String}})
precompile(read_inputs, (Args,))
precompile(load_weights, (String,))
precompile(read_images, (String,))
precompile(log_start, (String,))
precompile(log_config, (Args,))
precompile(log_warmup, (Float64,))
precompile(log_epoch, (Int, Float64, Float64, Float64, Float64, Float64))
precompile(log_test, (Float64, Float64, Float64))
precompile(log_predict, (Matrix{Float32},))
precompile(progress_warmup, ())
precompile(progress_train, (Int, Int, Int, Int, Float64))

end # module
