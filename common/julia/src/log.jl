# The log lines (SPEC.md §6): logfmt `event=<name> key=value …` records on stdout, one typed
# function per event, each line flushed as it is printed. And the progress lines for a person
# watching: `event=progress stage=…` on stderr, training ones at most one per 0.25 s.

"`event=<name>` then the `key=value` pairs of `fields`, a tuple, in order."
function logfmt(event::String, fields::Tuple)
    # (A tuple, not varargs: Julia compiles a varargs method lazily, at its first call, which for a
    # progress line would land inside the first epoch's seconds.)
    io = IOBuffer()
    print(io, "event=", event)
    for (key, value) in fields
        print(io, ' ', key, '=', value)
    end
    return String(take!(io))
end

"Print one logfmt record on stdout, flushed at once."
function emit(event::String, fields::Tuple)
    println(stdout, logfmt(event, fields))
    flush(stdout)
end

f6(x) = @sprintf("%.6f", x)
f3(x) = @sprintf("%.3f", x)

"`start`: the row, Julia's version, the framework (`none` for hand-written code), the device."
log_start(row::String; framework::String="none", device::String="cpu") =
    emit("start", ("row" => row, "language" => "julia/$(VERSION)", "framework" => framework, "device" => device))

"`config`: the flags that shape the run."
log_config(args::Args) =
    emit("config", ("dataset" => args.dataset, "epochs" => args.epochs, "batch_size" => args.batch_size,
                    "lr" => args.lr, "momentum" => args.momentum, "seed" => args.seed,
                    "limit_train" => args.limit_train, "shuffle" => Int(args.shuffle),
                    "init" => Int(args.init !== nothing)))

"`data`: the split sizes of `load_mnist`'s result and the seconds it took."
log_data(data, seconds::Real) =
    emit("data", ("train" => length(data.train_y), "val" => length(data.val_y), "test" => length(data.test_y),
                  "seconds" => f3(seconds)))

"`warmup`: seconds of compilation (and scratch steps) before epoch 1."
log_warmup(seconds::Real) = emit("warmup", ("seconds" => f3(seconds),))

"`epoch`: the epoch's training loss and accuracy (as trained), the validation ones, its seconds."
log_epoch(epoch::Integer, train_loss::Real, train_acc::Real, val_loss::Real, val_acc::Real, seconds::Real) =
    emit("epoch", ("epoch" => epoch, "train_loss" => f6(train_loss), "train_acc" => f6(train_acc),
                   "val_loss" => f6(val_loss), "val_acc" => f6(val_acc), "seconds" => f3(seconds)))

"`test`: the test loss and accuracy and the seconds the evaluation took."
log_test(test_loss::Real, test_acc::Real, seconds::Real) =
    emit("test", ("test_loss" => f6(test_loss), "test_acc" => f6(test_acc), "seconds" => f3(seconds)))

"""`predict`: image `index` (from 0) and its ten class probabilities; the class is the most
probable digit, the lowest on a tie (argmax returns the first maximum)."""
log_predict(index::Integer, probabilities::AbstractVector{<:Real}) =
    emit("predict", ("index" => index, "class" => argmax(probabilities) - 1,
                     ntuple(digit -> "p$(digit - 1)" => f6(probabilities[digit]), 10)...))

"One `predict` line per column of `probabilities` [10, n], one column per image, in order."
function log_predict(probabilities::AbstractMatrix{<:Real})
    for (index, column) in enumerate(eachcol(probabilities))
        log_predict(index - 1, column)
    end
end

# ---------------------------------------------------------------- progress (stderr)
const PROGRESS_INTERVAL_NS = UInt64(250_000_000)  # a training line at most every 0.25 s
const LAST_PROGRESS_NS = Ref{UInt64}(0)            # when the previous progress line was printed

"Print one `event=progress stage=<stage> …` line on stderr, flushed, and note the time `now`."
function progress(stage::String, fields::Tuple, now::UInt64=time_ns())
    LAST_PROGRESS_NS[] = now
    println(stderr, logfmt("progress", (("stage" => stage), fields...)))
    flush(stderr)
end

"Once the flags are parsed (run_main prints it)."
progress_start(row::String) = progress("start", ("row" => row,))

"Before the data files are read (load_mnist prints it)."
progress_data(dataset::String) = progress("data", ("dataset" => dataset,))

"Before the warm-up (compilation) that the `warmup` log line reports."
progress_warmup() = progress("warmup", ())

"""After training batch `batch` of `batches` in epoch `epoch` of `epochs`, with the epoch's mean
loss so far: prints a line only when 0.25 s have passed since the previous progress line, so a
batch pays a clock reading. Returns whether it printed."""
function progress_train(epoch::Integer, epochs::Integer, batch::Integer, batches::Integer, loss::Real;
                        now::UInt64=time_ns())
    now - LAST_PROGRESS_NS[] < PROGRESS_INTERVAL_NS && return false
    progress("train", ("epoch" => epoch, "epochs" => epochs, "batch" => batch, "batches" => batches,
                       "loss" => f6(loss)), now)
    return true
end
