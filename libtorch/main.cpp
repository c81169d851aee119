// MNIST in C++ with LibTorch: a torch::nn::Module trained by torch::optim::SGD. Line for line the PyTorch
// row (pytorch/main.py) in PyTorch's C++ frontend, in the shape of pytorch/examples' cpp/mnist.
//
// Build and run from the repository root:
//
//     invoke setup --project libtorch && libtorch/build/mnist --epochs 1
#include <torch/torch.h>

#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include "contract.h"

namespace F = torch::nn::functional;

// ---------------------------------------------------------------- data
// First the contract's inputs (SPEC.md §4): the C contract library (common/c/contract.h) reads and checks
// the flags, the IDX files (SPEC.md §1) and any weights file. Its arrays become tensors without a copy
// (torch::from_blob); batches are index slices.
torch::Tensor images_of(const Split &split) {
    return torch::from_blob(split.x, {split.n, PIXELS}, torch::kFloat32);
}

torch::Tensor labels_of(const Split &split) {
    return torch::from_blob(split.y, {split.n}, torch::kInt32).to(torch::kInt64);
}

// ---------------------------------------------------------------- model
// 784 → 512 → ReLU → 512 → ReLU → 10 logits.
struct NetImpl : torch::nn::Module {
    NetImpl()
        : fc1(register_module("fc1", torch::nn::Linear(784, 512))),
          fc2(register_module("fc2", torch::nn::Linear(512, 512))),
          fc3(register_module("fc3", torch::nn::Linear(512, 10))) {}

    torch::Tensor forward(torch::Tensor x) {
        x = torch::relu(fc1(x));
        x = torch::relu(fc2(x));
        return fc3(x);
    }

    torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(Net);  // Net: a shared pointer to a NetImpl, as torch::nn::Linear is to a LinearImpl

// torch::nn::Linear's default init is the contract's: U(±1/sqrt(fan_in)). Or the given weights, by name.
Net init_params(uint32_t seed, const char *weights_file) {
    torch::manual_seed(seed);
    Net model;
    if (weights_file != nullptr) {
        Tensors tensors = alloc_tensors();
        load_weights(weights_file, tensors.t);
        torch::NoGradGuard no_grad;
        auto parameters = model->named_parameters();
        for (int t = 0; t < N_TENSORS; t++) {
            std::vector<int64_t> shape{TENSORS[t].rows};
            if (TENSORS[t].cols) shape.push_back(TENSORS[t].cols);
            parameters[TENSORS[t].name].copy_(torch::from_blob(tensors.t[t], shape));
        }
        free_tensors(&tensors);
    }
    return model;
}

// ---------------------------------------------------------------- train step
// One SGD-with-momentum step on a batch; returns its mean loss and its logits.
std::pair<torch::Tensor, torch::Tensor> train_step(Net &model, torch::optim::SGD &optimizer,
                                                   const torch::Tensor &x, const torch::Tensor &y) {
    optimizer.zero_grad();
    auto output = model(x);
    auto loss = F::cross_entropy(output, y);
    loss.backward();
    optimizer.step();
    return {loss.detach(), output};
}

// One epoch; returns the mean training loss and accuracy over the epoch's examples.
std::pair<double, double> train_epoch(Net &model, torch::optim::SGD &optimizer, const torch::Tensor &images,
                                      const torch::Tensor &labels, const Args &args,
                                      std::optional<torch::Generator> &generator, int64_t epoch) {
    model->train();
    int64_t count = labels.size(0);
    auto order = generator ? torch::randperm(count, *generator) : torch::arange(count);
    int64_t batches = (count + args.batch_size - 1) / args.batch_size;
    auto total_loss = torch::zeros({});
    auto correct = torch::zeros({}, torch::kLong);
    int64_t seen = 0, index = 0;
    for (const auto &batch : order.split(args.batch_size)) {
        auto x = images.index({batch}), y = labels.index({batch});
        auto [loss, output] = train_step(model, optimizer, x, y);
        total_loss += loss * batch.size(0);
        correct += (output.argmax(1) == y).sum();
        seen += batch.size(0);
        // On the CPU reading a scalar costs no wait; the library prints a few progress lines a second.
        progress_train(epoch, args.epochs, ++index, batches, total_loss.item<double>(), seen);
    }
    return {total_loss.item<double>() / count, correct.item<double>() / count};
}

// ---------------------------------------------------------------- evaluate
// Mean loss and accuracy over a whole split.
std::pair<double, double> evaluate(Net &model, const torch::Tensor &images, const torch::Tensor &labels,
                                   int64_t batch_size = 1000) {
    torch::NoGradGuard no_grad;
    model->eval();
    double total_loss = 0;
    int64_t correct = 0;
    auto xs = images.split(batch_size), ys = labels.split(batch_size);
    for (size_t i = 0; i < xs.size(); i++) {
        auto output = model(xs[i]);
        total_loss += F::cross_entropy(output, ys[i], F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
        correct += (output.argmax(1) == ys[i]).sum().item<int64_t>();
    }
    return {total_loss / labels.size(0), static_cast<double>(correct) / labels.size(0)};
}

// Softmax probabilities of each image's ten classes (--predict).
torch::Tensor predict(Net &model, const torch::Tensor &images) {
    torch::NoGradGuard no_grad;
    model->eval();
    return torch::softmax(model(images), 1);
}

// ---------------------------------------------------------------- main
const Row ROW = {.name = "libtorch",
                 .summary = "Train the SPEC.md MLP on MNIST with LibTorch, PyTorch's C++ frontend.",
                 .threads_flag = 0,
                 .help_extra = nullptr};

int run(int argc, char **argv) {
    Args args = parse_args(argc, argv, &ROW);
    log_start(ROW.name, cxx_language(), "libtorch/" TORCH_VERSION, "cpu");
    if (args.predict) {
        auto model = init_params(args.seed, args.init);
        Split images = read_images(args.predict, nullptr);
        auto probabilities = predict(model, images_of(images)).contiguous();
        for (int64_t index = 0; index < images.n; index++)
            log_predict(index, probabilities.data_ptr<float>() + index * CLASSES);
        free(images.x);
        return EXIT_OK;
    }
    log_config(&args);
    double started = now_seconds();
    Dataset data = load_mnist(&args, nullptr);
    log_data(&data, now_seconds() - started);
    auto train_x = images_of(data.train), val_x = images_of(data.val), test_x = images_of(data.test);
    auto train_y = labels_of(data.train), val_y = labels_of(data.val), test_y = labels_of(data.test);

    auto model = init_params(args.seed, args.init);
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(args.lr).momentum(args.momentum));
    std::optional<torch::Generator> generator;
    if (args.shuffle) generator = at::make_generator<at::CPUGeneratorImpl>(args.seed);

    for (int64_t epoch = 1; epoch <= args.epochs; epoch++) {
        started = now_seconds();
        auto [train_loss, train_acc] = train_epoch(model, optimizer, train_x, train_y, args, generator, epoch);
        double seconds = now_seconds() - started;
        check_finite(epoch, train_loss);
        auto [val_loss, val_acc] = evaluate(model, val_x, val_y);
        log_epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds);
    }

    started = now_seconds();
    auto [test_loss, test_acc] = evaluate(model, test_x, test_y);
    log_test(test_loss, test_acc, now_seconds() - started);
    if (args.save) {
        auto parameters = model->named_parameters();
        std::vector<torch::Tensor> kept;  // contiguous float32 copies, alive until written
        float *tensors[N_TENSORS];
        for (int t = 0; t < N_TENSORS; t++)
            tensors[t] = kept.emplace_back(parameters[TENSORS[t].name].detach().contiguous()).data_ptr<float>();
        save_weights(args.save, tensors);
    }
    free_dataset(&data);
    return EXIT_OK;
}

// A C++ exception (LibTorch reports its errors with c10::Error) becomes the contract's one error line.
int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const c10::Error &error) {
        fail(EXIT_INTERNAL, "%s", error.what_without_backtrace());
    } catch (const std::exception &error) {
        fail(EXIT_INTERNAL, "%s", error.what());
    }
}
