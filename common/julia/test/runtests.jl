# Unit tests of the Julia contract library, with Julia's Test standard library. From the repository root:
#
#     common/julia/julia.sh common/julia/test/runtests.jl
#
# (julia.sh runs the Julia that julia/setup.sh provided, as the row does). Exits 1 on any failure
# and ends with a line "N passed, M failed".
using Test

using MnistContract  # common/julia/src, on JULIA_LOAD_PATH (common/julia/julia.sh)
const C = MnistContract

# ---------------------------------------------------------------- helpers
"What `f()` prints on stdout (stream = :stdout) or stderr (:stderr), through a temporary file."
function captured(f, stream::Symbol=:stdout)
    path, io = mktemp()
    try
        stream === :stdout ? redirect_stdout(f, io) : redirect_stderr(f, io)
    finally
        close(io)
    end
    return read(path, String)
end

"The message of the `type` exception that `f()` throws (a test failure if it throws none)."
function message_of(f, type::Type)
    try
        f()
    catch error
        error isa type && return error.msg
        rethrow()
    end
    return "no $type thrown"
end

usage_error(argv...) = message_of(() -> parse_args(collect(String, argv)), UsageError)
data_error(f) = message_of(f, DataError)

be32(x::Integer) = reverse(reinterpret(UInt8, [UInt32(x)]))
idx_images(pixels::Vector{UInt8}, count; rows=28, cols=28, magic=0x803) =
    [be32(magic); be32(count); be32(rows); be32(cols); pixels]
idx_labels(labels::Vector{UInt8}; magic=0x801, count=length(labels)) = [be32(magic); be32(count); labels]

"Write `bytes` to `path`, gzip-compressed with the system's gzip when `gz`."
function write_file(path::String, bytes::Vector{UInt8}; gz::Bool=false)
    if gz
        raw = path * ".raw"
        write(raw, bytes)
        run(pipeline(`gzip -1 -c -- $raw`; stdout=path))
        rm(raw)
    else
        write(path, bytes)
    end
    return path
end

"A safetensors file from a header (JSON text) and data bytes."
write_safetensors(path, header::String, data::Vector{UInt8}) =
    write(path, [reinterpret(UInt8, [htol(UInt64(sizeof(header)))]); Vector{UInt8}(header); data])

"A header for `specs` (name, dtype, shape, bytes) laid out back to back, and the data's length."
function header_for(specs)
    entries, offset = String[], 0
    for (name, dtype, shape, nbytes) in specs
        push!(entries, "\"$name\":{\"dtype\":\"$dtype\",\"shape\":[$(join(shape, ","))]," *
                       "\"data_offsets\":[$offset,$(offset + nbytes)]}")
        offset += nbytes
    end
    return "{" * join(entries, ",") * "}", offset
end

const CONTRACT_SPECS = [(name, "F32", C.shape_of(name), 4 * prod(C.shape_of(name))) for name in TENSOR_NAMES]

"A weights file of the contract's six tensors with `specs` changed: returns its path."
function weights_file(dir, specs=CONTRACT_SPECS; name="w.safetensors", metadata::Bool=false)
    header, nbytes = header_for(specs)
    metadata && (header = "{\"__metadata__\":{\"format\":\"pt\"}," * header[2:end])
    path = joinpath(dir, name)
    write_safetensors(path, header, zeros(UInt8, nbytes))
    return path
end

random_tensors() = [rand(Float32, C.shape_of(name)...) .- 0.5f0 for name in TENSOR_NAMES]

counts = try
    @testset "MnistContract" begin

    # ------------------------------------------------------------ flags (SPEC.md §4)
    @testset "flags: defaults and values" begin
        args = withenv("MNIST_DATA_DIR" => nothing) do
            parse_args(String[])
        end
        @test (args.dataset, args.data_dir, args.epochs, args.batch_size) == ("mnist", "data", 5, 128)
        @test (args.lr, args.momentum, args.seed, args.limit_train, args.shuffle) == (0.05, 0.9, 0, 50000, true)
        @test args.init === args.load === args.save === args.predict === nothing
        @test withenv(() -> parse_args(String[]).data_dir, "MNIST_DATA_DIR" => "/somewhere") == "/somewhere"
        @test withenv(() -> parse_args(String[]).data_dir, "MNIST_DATA_DIR" => "") == "data"
        @test withenv(() -> parse_args(["--data-dir", "d"]).data_dir, "MNIST_DATA_DIR" => "/somewhere") == "d"

        save = joinpath(mktempdir(), "w.safetensors")
        args = parse_args(["--dataset", "fashion-mnist", "--epochs=0", "--batch-size", "7", "--lr", "5e-2",
                           "--momentum=0", "--seed", "4294967295", "--limit-train", "50000", "--no-shuffle",
                           "--init", "a.safetensors", "--save", save])
        @test (args.dataset, args.epochs, args.batch_size, args.lr, args.momentum) == ("fashion-mnist", 0, 7, 0.05, 0.0)
        @test (args.seed, args.limit_train, args.shuffle, args.init, args.save) ==
              (4294967295, 50000, false, "a.safetensors", save)
        args = parse_args(["--load", "b.safetensors", "--predict", "x.idx"])
        @test (args.init, args.load, args.predict) == ("b.safetensors", "b.safetensors", "x.idx")
        @test parse_args(["--save", "here.safetensors"]).save == "here.safetensors"  # the current directory
    end

    @testset "flags: usage errors" begin
        @test usage_error("--bogus") == "unknown flag --bogus (see --help)"
        @test usage_error("stray") == "unexpected argument 'stray' (see --help)"
        @test usage_error("--epochs") == "--epochs needs a value (see --help)"
        @test usage_error("--epochs", "--seed", "1") == "--epochs needs a value (see --help)"
        @test usage_error("--batch-size", "-5") == "--batch-size must be an integer >= 1, got '-5'"
        @test usage_error("--batch-size", "0") == "--batch-size must be an integer >= 1, got '0'"
        @test usage_error("--epochs", "1.5") == "--epochs must be an integer >= 0, got '1.5'"
        @test usage_error("--seed", "4294967296") == "--seed must be an integer in 0..4294967295, got '4294967296'"
        @test usage_error("--limit-train", "50001") == "--limit-train must be an integer in 1..50000, got '50001'"
        @test usage_error("--lr", "abc") == "--lr must be a number > 0, got 'abc'"
        @test usage_error("--lr", "0") == "--lr must be a number > 0, got '0'"
        @test usage_error("--lr", "Inf") == "--lr must be a number > 0, got 'Inf'"
        @test usage_error("--lr", "NaN") == "--lr must be a number > 0, got 'NaN'"
        @test usage_error("--momentum", "1") == "--momentum must be a number in [0, 1), got '1'"
        @test usage_error("--momentum", "-0.1") == "--momentum must be a number in [0, 1), got '-0.1'"
        @test usage_error("--dataset", "cifar10") == "--dataset must be one of mnist, fashion-mnist, got 'cifar10'"
        @test usage_error("--no-shuffle=1") == "--no-shuffle takes no value (see --help)"
        @test usage_error("--save=") == "--save needs a file name"
        @test usage_error("--init", "a", "--load", "b") == "--init and --load are the same option; give only one"
        @test usage_error("--predict", "x.idx") == "--predict needs the weights to classify with: add --load FILE"
        @test occursin("--save: directory /nonexistent/dir does not exist",
                       usage_error("--save", "/nonexistent/dir/w.safetensors"))
    end

    @testset "flags: --help" begin
        text = captured(() -> @test parse_args(["--epochs", "1", "--help", "--bogus"]; usage="the usage\n") === nothing)
        @test text == "the usage\n"
        usage = usage_text("julia", "Train it.")
        @test startswith(usage, "usage: julia/run.sh [options]\n\nTrain it.\n")
        for flag in ("--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--momentum", "--seed",
                     "--limit-train", "--no-shuffle", "--init", "--load", "--save", "--predict", "--help")
            @test occursin(flag, usage)
        end
        @test captured(() -> parse_args(["-h"]; usage=usage)) == usage
    end

    # ------------------------------------------------------------ errors and exit statuses (SPEC.md §7)
    @testset "run_main and read_inputs" begin
        dir = mktempdir()
        images = write_file(joinpath(dir, "two.idx"), idx_images(zeros(UInt8, 2 * 784), 2))
        predict = ["--load", weights_file(dir), "--predict", images]
        called = Ref(false)
        ok(args, inputs) = (called[] = true; println("ran with epochs=$(args.epochs) images=$(size(inputs.images, 2))"))
        status = Ref(-1)
        out = captured(:stdout) do
            err = captured(() -> status[] = run_main(ok, ["--epochs", "3", predict...]; row="julia", description="d"),
                           :stderr)
            @test err == "event=progress stage=start row=julia\n"
        end
        @test status[] == 0 && called[] && out == "ran with epochs=3 images=2\n"

        called[] = false
        out = captured(() -> status[] = run_main(ok, ["--help"]; row="demo", description="Demo row."))
        @test status[] == 0 && !called[] && startswith(out, "usage: demo/run.sh [options]\n\nDemo row.\n")

        stderr_of(main, argv=predict) = captured(() -> status[] = run_main(main, argv; row="julia", description="d"), :stderr)
        @test stderr_of(ok, ["--bogus"]) == "error: unknown flag --bogus (see --help)\n" && status[] == 2
        # Bad files are answered before main runs (SPEC.md §4): the weights file first, then the data.
        missing = joinpath(dir, "none.safetensors")
        @test endswith(stderr_of(ok, ["--load", missing, "--epochs", "0"]), "error: $missing: weights file not found\n")
        @test status[] == 2 && !called[]
        lines = split(stderr_of(ok, ["--data-dir", joinpath(dir, "nowhere")]), '\n'; keepempty=false)
        @test lines[2] == "event=progress stage=data dataset=mnist" && startswith(lines[3], "error: data directory ")
        @test status[] == 2 && !called[]
        @test captured(() -> read_inputs(parse_args(predict)), :stderr) == ""  # --predict reads no dataset
        inputs = read_inputs(parse_args(predict))
        @test inputs.data === nothing && size(inputs.images) == (784, 2) && length(inputs.init) == 6 && inputs.seconds >= 0
        lines = split(stderr_of((args, inputs) -> throw(DataError("data/x.gz: file not found"))), '\n'; keepempty=false)
        @test lines == ["event=progress stage=start row=julia", "error: data/x.gz: file not found"] && status[] == 2
        @test endswith(stderr_of((args, inputs) -> check_finite(2, NaN)),
                       "error: training diverged in epoch 2: the training loss is NaN; try a smaller --lr\n")
        @test status[] == 3
        @test endswith(stderr_of((args, inputs) -> error("boom\nsecond line")), "error: internal error: boom second line\n")
        @test status[] == 1
        @test check_finite(1, 2.5) === nothing
        @test_throws Diverged check_finite(1, Inf)
        @test seconds_since(time_ns()) >= 0
    end

    # ------------------------------------------------------------ log lines (SPEC.md §6)
    @testset "log lines" begin
        @test captured(() -> log_start("julia")) ==
              "event=start row=julia language=julia/$(VERSION) framework=none device=cpu\n"
        @test captured(() -> log_start("flux"; framework="flux/0.14", device="cuda")) ==
              "event=start row=flux language=julia/$(VERSION) framework=flux/0.14 device=cuda\n"
        args = withenv(() -> parse_args(String[]), "MNIST_DATA_DIR" => nothing)
        @test captured(() -> log_config(args)) == "event=config dataset=mnist epochs=5 batch_size=128 lr=0.05 " *
                                                  "momentum=0.9 seed=0 limit_train=50000 shuffle=1 init=0\n"
        args = parse_args(["--lr", "1e6", "--no-shuffle", "--load", "w", "--limit-train", "2000"])
        @test captured(() -> log_config(args)) == "event=config dataset=mnist epochs=5 batch_size=128 lr=1.0e6 " *
                                                  "momentum=0.9 seed=0 limit_train=2000 shuffle=0 init=1\n"
        splits = (train_y=zeros(Int, 3), val_y=zeros(Int, 2), test_y=zeros(Int, 1))
        @test captured(() -> log_data(splits, 1.23456)) == "event=data train=3 val=2 test=1 seconds=1.235\n"
        @test captured(() -> log_warmup(0.5)) == "event=warmup seconds=0.500\n"
        @test captured(() -> log_epoch(1, 0.5, 0.25, 0.125, 1 / 3, 2.0)) == "event=epoch epoch=1 train_loss=0.500000 " *
              "train_acc=0.250000 val_loss=0.125000 val_acc=0.333333 seconds=2.000\n"
        @test captured(() -> log_test(0.0729, 0.9784, 0.0614)) ==
              "event=test test_loss=0.072900 test_acc=0.978400 seconds=0.061\n"
        p = Float32[0.1, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0, 0.1]  # a tie: the lowest digit
        @test captured(() -> log_predict(4, p)) == "event=predict index=4 class=2 p0=0.100000 p1=0.000000 " *
              "p2=0.400000 p3=0.000000 p4=0.000000 p5=0.000000 p6=0.000000 p7=0.400000 p8=0.000000 p9=0.100000\n"
        lines = split(captured(() -> log_predict(hcat(p, reverse(p)))), '\n'; keepempty=false)
        @test length(lines) == 2 && startswith(lines[1], "event=predict index=0 class=2 ") &&
              startswith(lines[2], "event=predict index=1 class=2 p0=0.100000")
    end

    @testset "progress lines" begin
        @test captured(() -> progress_start("julia"), :stderr) == "event=progress stage=start row=julia\n"
        @test captured(() -> progress_data("fashion-mnist"), :stderr) == "event=progress stage=data dataset=fashion-mnist\n"
        # straight after another progress line: no training line
        @test captured(() -> (progress_warmup(); @test(!progress_train(1, 1, 1, 391, 2.3))), :stderr) ==
              "event=progress stage=warmup\n"
        # rate limit: at least 0.25 s since the previous progress line, whatever its stage
        t = UInt64(10)^12
        captured(() -> C.progress("warmup", (), t), :stderr)
        @test captured(() -> @test(!progress_train(1, 5, 1, 391, 2.3; now=t + 249_999_999)), :stderr) == ""
        @test captured(() -> @test(progress_train(1, 5, 2, 391, 2.3015234; now=t + 250_000_000)), :stderr) ==
              "event=progress stage=train epoch=1 epochs=5 batch=2 batches=391 loss=2.301523\n"
        t += 250_000_000
        @test captured(() -> @test(!progress_train(1, 5, 3, 391, 2.2; now=t + 100_000_000)), :stderr) == ""
        @test captured(() -> @test(progress_train(2, 5, 1, 391, NaN; now=t + 300_000_000)), :stderr) ==
              "event=progress stage=train epoch=2 epochs=5 batch=1 batches=391 loss=NaN\n"
    end

    # ------------------------------------------------------------ IDX files (SPEC.md §1)
    @testset "IDX parsing" begin
        pixels = UInt8[(i % 256) for i in 0:2*784-1]
        raw = C.parse_idx_images(idx_images(pixels, 2), "x")
        @test size(raw) == (784, 2) && eltype(raw) == UInt8 && raw[:, 1] == pixels[1:784] && raw[1, 2] == pixels[785]
        images = C.scaled(raw)
        @test size(images) == (784, 2) && eltype(images) == Float32
        @test images[:, 1] == Float32.(pixels[1:784]) ./ 255f0 && images[1, 2] == Float32(pixels[785]) / 255f0
        @test images[28, 1] == 27f0 / 255f0  # row-major pixels: the first row of image 1 first
        @test data_error(() -> C.parse_idx_images(idx_images(pixels, 2; magic=0x801), "x")) ==
              "x: not an IDX image file (magic 0x00000801, expected 0x00000803)"
        @test data_error(() -> C.parse_idx_images(idx_images(UInt8[], 1; rows=14, cols=14), "x")) ==
              "x: images are 14x14, expected 28x28"
        @test data_error(() -> C.parse_idx_images(idx_images(pixels[1:end-1], 2), "x")) ==
              "x: header says 2 images, but holds 1567 pixel bytes (expected 1568)"
        @test data_error(() -> C.parse_idx_images(idx_images(pixels, 1), "x")) ==
              "x: header says 1 images, but holds 1568 pixel bytes (expected 784)"
        @test data_error(() -> C.parse_idx_images(UInt8[0, 0, 8, 3], "x")) ==
              "x: too short for an IDX image header (4 bytes)"
        @test size(C.parse_idx_images(idx_images(UInt8[], 0), "x")) == (784, 0)

        @test C.parse_idx_labels(idx_labels(UInt8[7, 0, 9]), "y") == [7, 0, 9]
        @test data_error(() -> C.parse_idx_labels(idx_labels(UInt8[7, 10]), "y")) == "y: label 10 is out of range 0-9"
        @test data_error(() -> C.parse_idx_labels(idx_labels(UInt8[7]; magic=0x803), "y")) ==
              "y: not an IDX label file (magic 0x00000803, expected 0x00000801)"
        @test data_error(() -> C.parse_idx_labels(idx_labels(UInt8[7, 1]; count=3), "y")) ==
              "y: header says 3 labels, but holds 2 bytes"
        @test data_error(() -> C.parse_idx_labels(UInt8[0, 0], "y")) == "y: too short for an IDX label header (2 bytes)"
    end

    @testset "IDX files: gzip, splits, --predict files" begin
        dir = mktempdir()
        pixels = rand(UInt8, 3 * 784)
        gz = write_file(joinpath(dir, "images.gz"), idx_images(pixels, 3); gz=true)
        plain = write_file(joinpath(dir, "images.idx"), idx_images(pixels, 3))
        @test C.read_gz(gz) == idx_images(pixels, 3)
        @test read_images(gz) == read_images(plain) == reshape(Float32.(pixels) ./ 255f0, 784, 3)
        @test data_error(() -> read_images(joinpath(dir, "absent.idx"))) == "$(joinpath(dir, "absent.idx")): file not found"
        short = write_file(joinpath(dir, "short.idx"), idx_images(pixels[1:end-1], 3))
        @test occursin("header says 3 images", data_error(() -> read_images(short)))
        @test data_error(() -> C.read_gz(plain)) == "$plain: not a valid gzip file (not in gzip format)"
        truncated = write_file(joinpath(dir, "truncated.gz"), read(gz)[1:end-20])
        @test data_error(() -> C.read_gz(truncated)) == "$truncated: not a valid gzip file (truncated)"
        @test data_error(() -> read_images(truncated)) == "$truncated: not a valid gzip file (truncated)"
        @test data_error(() -> C.read_gz(joinpath(dir, "absent.gz"))) == "$(joinpath(dir, "absent.gz")): file not found"

        labels = write_file(joinpath(dir, "labels.gz"), idx_labels(UInt8[1, 2, 3]); gz=true)
        x, y = C.read_split(dir, "images.gz", "labels.gz", 3)
        @test size(x) == (784, 3) && y == [1, 2, 3]
        @test data_error(() -> C.read_split(dir, "images.gz", "labels.gz", 4)) ==
              "$gz: holds 3 images and labels.gz 3 labels, expected 4 of each"
        write_file(labels, idx_labels(UInt8[1, 2]); gz=true)
        @test occursin("holds 3 images and labels.gz 2 labels", data_error(() -> C.read_split(dir, "images.gz", "labels.gz", 3)))
    end

    @testset "load_mnist: the split of SPEC.md §1" begin
        root = mktempdir()
        args = parse_args(["--data-dir", root, "--limit-train", "5"])
        @test data_error(() -> captured(() -> load_mnist(args), :stderr)) ==
              "data directory $(joinpath(root, "mnist")) not found: run `invoke data`, or point --data-dir / " *
              "MNIST_DATA_DIR at the folder that holds mnist/"
        dir = mkpath(joinpath(root, "mnist"))
        # Each image's first pixel and its label say where it came from.
        for (prefix, count) in (("train", 60_000), ("t10k", 10_000))
            pixels = zeros(UInt8, 784 * count)
            pixels[1:784:end] .= UInt8.((0:count-1) .% 251)
            write_file(joinpath(dir, "$prefix-images-idx3-ubyte.gz"), idx_images(pixels, count); gz=true)
            write_file(joinpath(dir, "$prefix-labels-idx1-ubyte.gz"), idx_labels(UInt8.((0:count-1) .% 10)); gz=true)
        end
        progress = captured(:stderr) do
            data, seconds = load_mnist(args)
            @test (size(data.train_x), size(data.val_x), size(data.test_x)) == ((784, 5), (784, 10_000), (784, 10_000))
            @test data.train_y == [0, 1, 2, 3, 4] && data.val_y[1:3] == [0, 1, 2] && data.test_y[end] == 9
            @test data.val_x[1, 1] == Float32(50_000 % 251) / 255f0 && data.test_x[1, end] == Float32(9_999 % 251) / 255f0
            @test seconds >= 0
        end
        @test progress == "event=progress stage=data dataset=mnist\n"
        captured(:stderr) do
            data, _ = load_mnist(parse_args(["--data-dir", root]))  # without --limit-train: all 50,000
            @test length(data.train_y) == size(data.train_x, 2) == 50_000 && data.train_y[end] == 9
        end
        write_file(joinpath(dir, "t10k-labels-idx1-ubyte.gz"), idx_labels(zeros(UInt8, 9_999)); gz=true)
        @test occursin("holds 10000 images and t10k-labels-idx1-ubyte.gz 9999 labels, expected 10000 of each",
                       data_error(() -> captured(() -> load_mnist(args), :stderr)))
    end

    # ------------------------------------------------------------ safetensors (SPEC.md §5)
    @testset "safetensors: JSON header reader" begin
        @test C.parse_json(Vector{UInt8}("""{"a": [1, -2, 3.5e1, true, false, null], "b\\n\\u00e9": {}}""")) ==
              Dict{String,Any}("a" => Any[1, -2, 35.0, true, false, nothing], "b\né" => Dict{String,Any}())
        for bad in ("{", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":1,\"a\":2}", "[1 2]", "{\"a\":tru}", "\"\\x\"", "{\"a\":\"\n\"}")
            @test_throws C.JSONError C.parse_json(Vector{UInt8}(bad))
        end
        @test_throws C.JSONError C.parse_json(Vector{UInt8}("["^100 * "]"^100))
    end

    @testset "safetensors: round trip" begin
        dir = mktempdir()
        tensors = random_tensors()
        path = joinpath(dir, "w.safetensors")
        save_weights(path, tensors)
        @test load_weights(path) == tensors
        @test eltype.(load_weights(path)) == fill(Float32, 6)
        # The file: an 8-byte little-endian length, a JSON header padded so the data is 8-byte aligned,
        # then the tensors in TENSOR_NAMES order, row-major (PyTorch's [out, in] layout), little-endian.
        bytes = read(path)
        header_length = Int(ltoh(reinterpret(UInt64, bytes[1:8])[1]))
        @test header_length % 8 == 0
        header = C.parse_json(bytes[9:8+header_length])
        @test sort(collect(keys(header))) == sort(collect(TENSOR_NAMES))
        @test header["fc1.weight"] == Dict{String,Any}("dtype" => "F32", "shape" => Any[512, 784],
                                                       "data_offsets" => Any[0, 4 * 512 * 784])
        data = ltoh.(reinterpret(Float32, bytes[9+header_length:end]))
        @test length(data) == sum(length, tensors)
        @test data[1:3] == tensors[1][1, 1:3]  # row-major: fc1.weight[1, 1], [1, 2], [1, 3]
        @test data[end-9:end] == tensors[6]
        # A file with metadata (as PyTorch's writer adds) and tensors in another order loads too.
        specs = [CONTRACT_SPECS[6]; CONTRACT_SPECS[1:5]]
        @test load_weights(weights_file(dir, specs; metadata=true)) == [zeros(Float32, C.shape_of(n)...) for n in TENSOR_NAMES]
        @test_throws ArgumentError save_weights(joinpath(dir, "x.safetensors"), tensors[1:5])
        @test_throws ArgumentError save_weights(joinpath(dir, "x.safetensors"), reverse(tensors))
        @test occursin("cannot write weights", data_error(() -> save_weights(joinpath(dir, "no", "x"), tensors)))
    end

    @testset "safetensors: bad files" begin
        dir = mktempdir()
        f(name) = joinpath(dir, name)
        @test data_error(() -> load_weights(f("absent"))) == "$(f("absent")): weights file not found"
        write(f("tiny"), UInt8[1, 2, 3])
        @test data_error(() -> load_weights(f("tiny"))) ==
              "$(f("tiny")): not a safetensors file (shorter than its 8-byte header length)"
        write(f("long"), [reinterpret(UInt8, [htol(UInt64(1000))]); Vector{UInt8}("{}")])
        @test data_error(() -> load_weights(f("long"))) == "$(f("long")): not a safetensors file (header length 1000 exceeds the file)"
        write_safetensors(f("json"), "{\"fc1.weight\":", UInt8[])
        @test startswith(data_error(() -> load_weights(f("json"))), "$(f("json")): not a safetensors file (bad JSON header: ")
        write_safetensors(f("array"), "[1]", UInt8[])
        @test data_error(() -> load_weights(f("array"))) == "$(f("array")): not a safetensors file (the header is not a JSON object)"

        specs = copy(CONTRACT_SPECS)
        specs[2] = ("fc1.bias", "F33", [512], 2048)
        @test data_error(() -> load_weights(weights_file(dir, specs))) ==
              "$(f("w.safetensors")): not a safetensors file (tensor fc1.bias has a malformed header entry)"
        specs[2] = ("fc1.bias", "F32", [512], 2044)
        @test data_error(() -> load_weights(weights_file(dir, specs))) ==
              "$(f("w.safetensors")): not a safetensors file (tensor fc1.bias: data offsets do not match its dtype and shape)"
        header, nbytes = header_for(CONTRACT_SPECS)
        write_safetensors(f("gap"), header, zeros(UInt8, nbytes + 4))
        @test data_error(() -> load_weights(f("gap"))) ==
              "$(f("gap")): not a safetensors file (the tensors do not cover the data without gaps or overlaps)"

        @test data_error(() -> load_weights(weights_file(dir, CONTRACT_SPECS[1:5]))) ==
              "$(f("w.safetensors")): weights file lacks tensor fc3.bias"
        @test data_error(() -> load_weights(weights_file(dir, [CONTRACT_SPECS; ("extra", "F32", [1], 4)]))) ==
              "$(f("w.safetensors")): weights file has unexpected tensor extra"
        specs = copy(CONTRACT_SPECS)
        specs[6] = ("fc3.bias", "F64", [10], 80)
        @test data_error(() -> load_weights(weights_file(dir, specs))) == "$(f("w.safetensors")): tensor fc3.bias is F64, expected F32"
        specs = copy(CONTRACT_SPECS)
        specs[1] = ("fc1.weight", "F32", [784, 512], 4 * 784 * 512)
        @test data_error(() -> load_weights(weights_file(dir, specs))) ==
              "$(f("w.safetensors")): tensor fc1.weight has shape [784, 512], expected [512, 784]"
    end

    end  # @testset "MnistContract"
catch error
    error isa Test.TestSetException || rethrow()
    println("$(error.pass) passed, $(error.fail + error.error) failed")
    exit(1)
end
tally = Test.get_test_counts(counts)  # Julia <= 1.10: a tuple (passes, …, cumulative passes, …)
passed = tally isa Tuple ? tally[1] + tally[5] : tally.passes + tally.cumulative_passes
println("$passed passed, 0 failed")
