# MNIST in Julia, from scratch: standard library only (LinearAlgebra's BLAS products, Random),
# the forward pass, backpropagation and SGD with momentum by hand. The contract's plumbing
# (flags, log lines, IDX and safetensors files, exit statuses) is in contract.jl.
#
# The contract is SPEC.md at the repository root. Run from the repository root:
#
#     julia/run.sh --epochs 1
#
# (or `julia --startup-file=no julia/main.jl --epochs 1` with an official Julia; see README.md).
#
# Layout: Julia arrays are column-major, so one example is one *column*: images are
# [784, n] and activations [features, batch]. The weights keep PyTorch's [out, in] shape,
# so every layer reads as the math does: h = W * x .+ b.
#
# Written to run on Julia 1.5 (Debian bullseye's julia, what julia/setup.sh installs when
# no official build is reachable) as well as on current releases: no newer-only APIs.

# When this file started loading: Julia compiles main() and everything it calls before main runs,
# so that compilation is measured from here and reported in the `warmup` line (SPEC.md §6).
const LOADED_NS = time_ns()

using LinearAlgebra
using Random

include("contract.jl")

const ROW = "julia"

# ---------------------------------------------------------------- data (SPEC.md §1)
"The train / validation / test split of SPEC.md §1, by position."
function load_mnist(data_dir::String, dataset::String, limit_train::Int)
    directory = joinpath(data_dir, dataset)
    isdir(directory) ||
        throw(DataError("data directory $directory not found: run `invoke data`, or point --data-dir / " *
                        "MNIST_DATA_DIR at the folder that holds $dataset/"))
    train_x, train_y = read_split(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_COUNT)
    test_x, test_y = read_split(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_COUNT)
    split = TRAIN_COUNT - VAL_COUNT
    return (train_x=train_x[:, 1:limit_train], train_y=train_y[1:limit_train],
            val_x=train_x[:, split+1:end], val_y=train_y[split+1:end], test_x=test_x, test_y=test_y)
end

# ---------------------------------------------------------------- model (SPEC.md §2)
"The six tensors, in PyTorch's names and [out, in] shapes."
struct Params
    fc1_weight::Matrix{Float32}
    fc1_bias::Vector{Float32}
    fc2_weight::Matrix{Float32}
    fc2_bias::Vector{Float32}
    fc3_weight::Matrix{Float32}
    fc3_bias::Vector{Float32}
end

const LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))

tensors(p::Params) = (p.fc1_weight, p.fc1_bias, p.fc2_weight, p.fc2_bias, p.fc3_weight, p.fc3_bias)
zeros_like(p::Params) = Params(map(zero, tensors(p))...)

"From / to the weights file's name => array (contract.jl's load_weights and save_weights)."
Params(named::Dict{String,Array{Float32}}) = Params((named[name] for name in TENSOR_NAMES)...)
named_tensors(p::Params) = Dict{String,Array{Float32}}(zip(TENSOR_NAMES, tensors(p)))

"PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))."
function init_params(rng::AbstractRNG)
    drawn = Array{Float32}[]
    for (_, fan_in, fan_out) in LAYERS
        bound = Float32(1 / sqrt(fan_in))
        for dims in ((fan_out, fan_in), (fan_out,))  # the weight, then the bias
            tensor = Array{Float32}(undef, dims)
            for i in eachindex(tensor)
                tensor[i] = (2f0 * rand(rng, Float32) - 1f0) * bound
            end
            push!(drawn, tensor)
        end
    end
    return Params(drawn...)
end

"Every buffer one batch of `n` examples needs, allocated once per batch size."
struct Workspace
    x::Matrix{Float32}        # [784, n] inputs
    labels::Vector{Int}       # [n]
    h1::Matrix{Float32}       # [512, n] after fc1 + ReLU
    h2::Matrix{Float32}       # [512, n] after fc2 + ReLU
    logits::Matrix{Float32}   # [10, n]
    grad_logits::Matrix{Float32}
    grad_h2::Matrix{Float32}
    grad_h1::Matrix{Float32}
end

Workspace(n::Int) = Workspace(Matrix{Float32}(undef, PIXELS, n), Vector{Int}(undef, n),
                              Matrix{Float32}(undef, 512, n), Matrix{Float32}(undef, 512, n),
                              Matrix{Float32}(undef, 10, n), Matrix{Float32}(undef, 10, n),
                              Matrix{Float32}(undef, 512, n), Matrix{Float32}(undef, 512, n))

workspace!(cache::Dict{Int,Workspace}, n::Int) = get!(() -> Workspace(n), cache, n)

"Copy the examples `indices` (columns of x, entries of y) into the workspace."
function gather!(ws::Workspace, x::Matrix{Float32}, y::Vector{Int}, indices)
    for (k, index) in enumerate(indices)
        copyto!(ws.x, (k - 1) * PIXELS + 1, x, (index - 1) * PIXELS + 1, PIXELS)
        ws.labels[k] = y[index]
    end
    return ws
end

"h .= max.(h .+ b, 0), in place (b broadcast along the batch)."
function add_bias_relu!(h::Matrix{Float32}, b::Vector{Float32})
    @inbounds for j in axes(h, 2)
        @simd for i in axes(h, 1)
            h[i, j] = max(h[i, j] + b[i], 0f0)
        end
    end
    return h
end

"z .+= b, in place (b broadcast along the batch)."
function add_bias!(z::Matrix{Float32}, b::Vector{Float32})
    @inbounds for j in axes(z, 2)
        @simd for i in axes(z, 1)
            z[i, j] += b[i]
        end
    end
    return z
end

"""C = op(A)·op(B) into the preallocated C, op being 'N' (as is) or 'T' (transposed): BLAS sgemm.
(LinearAlgebra's `mul!` does the same, but through generic dispatch layers that take Julia 1.5
seconds to compile; calling BLAS directly keeps the warm-up short.)"""
gemm!(C::Matrix{Float32}, tA::Char, A::Matrix{Float32}, tB::Char, B::Matrix{Float32}) =
    BLAS.gemm!(tA, tB, 1f0, A, B, 0f0, C)

"Logits for the batch in ws.x, keeping the hidden activations that backward! needs."
function forward!(ws::Workspace, p::Params)
    gemm!(ws.h1, 'N', p.fc1_weight, 'N', ws.x)        # [512, n] = W1 · x
    add_bias_relu!(ws.h1, p.fc1_bias)
    gemm!(ws.h2, 'N', p.fc2_weight, 'N', ws.h1)
    add_bias_relu!(ws.h2, p.fc2_bias)
    gemm!(ws.logits, 'N', p.fc3_weight, 'N', ws.h2)
    add_bias!(ws.logits, p.fc3_bias)
    return ws.logits
end

"""Softmax cross-entropy of each column of ws.logits against its label. Writes the gradient of
the batch-mean loss into ws.grad_logits; returns the summed loss and the number of hits."""
function softmax_cross_entropy!(ws::Workspace)
    logits, grad, n = ws.logits, ws.grad_logits, size(ws.logits, 2)
    total, hits = 0.0, 0
    @inbounds for j in 1:n
        top, best = logits[1, j], 1
        for i in 2:size(logits, 1)
            if logits[i, j] > top
                top, best = logits[i, j], i
            end
        end
        sum_exp = 0f0
        for i in axes(logits, 1)
            e = exp(logits[i, j] - top)  # shifted by the maximum: exp() cannot overflow
            grad[i, j] = e
            sum_exp += e
        end
        class = ws.labels[j] + 1
        total += log(sum_exp) - (logits[class, j] - top)
        hits += best == class
        for i in axes(logits, 1)
            grad[i, j] = (grad[i, j] / sum_exp - (i == class)) / n
        end
    end
    return total, hits
end

"grad .*= (h .> 0): the ReLU's derivative, in place."
function relu_backward!(grad::Matrix{Float32}, h::Matrix{Float32})
    @inbounds @simd for i in eachindex(grad, h)
        grad[i] = ifelse(h[i] > 0f0, grad[i], 0f0)
    end
    return grad
end

"b .= sum(g, dims=2): a bias gradient is the batch sum of its layer's output gradient."
function sum_columns!(b::Vector{Float32}, g::Matrix{Float32})
    fill!(b, 0f0)
    @inbounds for j in axes(g, 2)
        @simd for i in axes(g, 1)
            b[i] += g[i, j]
        end
    end
    return b
end

"Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1 into `grads`."
function backward!(grads::Params, ws::Workspace, p::Params)
    gemm!(grads.fc3_weight, 'N', ws.grad_logits, 'T', ws.h2)   # g · h2ᵀ
    sum_columns!(grads.fc3_bias, ws.grad_logits)
    gemm!(ws.grad_h2, 'T', p.fc3_weight, 'N', ws.grad_logits)   # W3ᵀ · g
    relu_backward!(ws.grad_h2, ws.h2)
    gemm!(grads.fc2_weight, 'N', ws.grad_h2, 'T', ws.h1)
    sum_columns!(grads.fc2_bias, ws.grad_h2)
    gemm!(ws.grad_h1, 'T', p.fc2_weight, 'N', ws.grad_h2)
    relu_backward!(ws.grad_h1, ws.h1)
    gemm!(grads.fc1_weight, 'N', ws.grad_h1, 'T', ws.x)
    sum_columns!(grads.fc1_bias, ws.grad_h1)
    return grads
end

# ---------------------------------------------------------------- train step (SPEC.md §3)
"PyTorch's SGD with momentum, in place: v = μ·v + g; p -= lr·v."
function sgd!(p::Array{Float32}, v::Array{Float32}, g::Array{Float32}, lr::Float32, momentum::Float32)
    @inbounds @simd for i in eachindex(p, v, g)
        v[i] = momentum * v[i] + g[i]
        p[i] -= lr * v[i]
    end
    return p
end

"One SGD step on the batch in ws; returns the batch's summed loss and number of hits."
function train_step!(p::Params, velocity::Params, grads::Params, ws::Workspace, lr::Float32, momentum::Float32)
    forward!(ws, p)
    loss, hits = softmax_cross_entropy!(ws)
    backward!(grads, ws, p)
    map((pk, vk, gk) -> sgd!(pk, vk, gk, lr, momentum), tensors(p), tensors(velocity), tensors(grads))
    return loss, hits
end

"""One pass over the training examples in a fresh random order (file order with --no-shuffle),
in consecutive batches, the last one partial; the mean loss and accuracy as they were trained."""
function train_epoch!(p, velocity, grads, cache, x, y, args, rng)
    n = length(y)
    order = args.shuffle ? randperm(rng, n) : collect(1:n)
    lr, momentum = Float32(args.lr), Float32(args.momentum)
    total_loss, correct = 0.0, 0
    for start in 1:args.batch_size:n
        batch = view(order, start:min(start + args.batch_size - 1, n))
        ws = gather!(workspace!(cache, length(batch)), x, y, batch)
        loss, hits = train_step!(p, velocity, grads, ws, lr, momentum)
        total_loss += loss
        correct += hits
    end
    return total_loss / n, correct / n
end

# ---------------------------------------------------------------- evaluate
"Mean loss and accuracy over a whole split."
function evaluate(p::Params, cache, x::Matrix{Float32}, y::Vector{Int}; batch_size::Int=1000)
    n = length(y)
    total_loss, correct = 0.0, 0
    for start in 1:batch_size:n
        batch = start:min(start + batch_size - 1, n)
        ws = gather!(workspace!(cache, length(batch)), x, y, batch)
        forward!(ws, p)
        loss, hits = softmax_cross_entropy!(ws)
        total_loss += loss
        correct += hits
    end
    return total_loss / n, correct / n
end

"Softmax probabilities [10, n] of each image's ten classes (--predict)."
function predict(p::Params, x::Matrix{Float32})
    ws = Workspace(size(x, 2))
    copyto!(ws.x, x)
    logits = forward!(ws, p)
    exp_logits = exp.(logits .- maximum(logits; dims=1))
    return exp_logits ./ sum(exp_logits; dims=1)
end

# ---------------------------------------------------------------- main
"""Parse the flags, load the data, train, evaluate, save (or, with --predict, classify a file's
images): the log lines of SPEC.md §6 on stdout."""
function main(argv::Vector{String})
    compile_seconds = seconds_since(LOADED_NS)
    args = parse_args(argv)
    args === nothing && return  # --help
    emit("start", "row" => ROW, "language" => "julia/$(VERSION)", "framework" => "none", "device" => "cpu")
    if args.predict !== nothing  # classify the file's images, no dataset, no training
        probabilities = predict(Params(load_weights(args.init)), read_images(args.predict))
        for (index, column) in enumerate(eachcol(probabilities))
            # class: the most probable digit, the lowest on a tie (argmax takes the first maximum)
            emit("predict", "index" => index - 1, "class" => argmax(column) - 1,
                 ("p$digit" => f6(column[digit+1]) for digit in 0:9)...)
        end
        return
    end
    emit("config", "dataset" => args.dataset, "epochs" => args.epochs, "batch_size" => args.batch_size,
         "lr" => args.lr, "momentum" => args.momentum, "seed" => args.seed, "limit_train" => args.limit_train,
         "shuffle" => Int(args.shuffle), "init" => Int(args.init !== nothing))

    t0 = time_ns()
    data = load_mnist(args.data_dir, args.dataset, args.limit_train)
    emit("data", "train" => length(data.train_y), "val" => length(data.val_y), "test" => length(data.test_y),
         "seconds" => f3(seconds_since(t0)))

    rng = MersenneTwister(args.seed)
    params = args.init !== nothing ? Params(load_weights(args.init)) : init_params(rng)
    velocity, grads = zeros_like(params), zeros_like(params)
    cache = Dict{Int,Workspace}()

    # Warm-up: the compilation of main (above) plus one training step and one evaluation on
    # scratch copies, so that whatever the JIT still compiles lazily is done before epoch 1.
    t0 = time_ns()
    if args.epochs > 0
        scratch = Params(map(copy, tensors(params))...)
        ws = gather!(workspace!(cache, min(args.batch_size, length(data.train_y))), data.train_x, data.train_y,
                     1:min(args.batch_size, length(data.train_y)))
        train_step!(scratch, zeros_like(params), zeros_like(params), ws, Float32(args.lr), Float32(args.momentum))
        evaluate(scratch, Dict{Int,Workspace}(), data.val_x[:, 1:2], data.val_y[1:2])
    end
    emit("warmup", "seconds" => f3(compile_seconds + seconds_since(t0)))

    for epoch in 1:args.epochs
        t0 = time_ns()
        train_loss, train_acc = train_epoch!(params, velocity, grads, cache, data.train_x, data.train_y, args, rng)
        seconds = seconds_since(t0)
        isfinite(train_loss) ||
            throw(Diverged("training diverged in epoch $epoch: the training loss is $train_loss; try a smaller --lr"))
        val_loss, val_acc = evaluate(params, cache, data.val_x, data.val_y)
        emit("epoch", "epoch" => epoch, "train_loss" => f6(train_loss), "train_acc" => f6(train_acc),
             "val_loss" => f6(val_loss), "val_acc" => f6(val_acc), "seconds" => f3(seconds))
    end

    t0 = time_ns()
    test_loss, test_acc = evaluate(params, cache, data.test_x, data.test_y)
    emit("test", "test_loss" => f6(test_loss), "test_acc" => f6(test_acc), "seconds" => f3(seconds_since(t0)))
    args.save !== nothing && save_weights(args.save, named_tensors(params))
end

if abspath(PROGRAM_FILE) == @__FILE__
    exit(run_main(main, ARGS))
end
