// MNIST in Go: the forward pass, backpropagation and SGD with momentum by hand, the matrix products by gonum's
// pure-Go BLAS (blas32, float32). Same model, data and hyperparameters as every row (SPEC.md); flags, IDX files,
// weights file, log lines and errors come from the Go contract library, common/go. Run: go/build/mnist --help
package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	contract "mnist/contract"
)

// ---------------------------------------------------------------- data: contract.LoadData reads and splits it

// ---------------------------------------------------------------- model

// Param is one parameter's values, its gradient and the optimiser's velocity, all of one length.
type Param struct{ Value, Grad, Velocity []float32 }

// Net is the six parameters in the weights file's order and layout (PyTorch's: fc1.weight [512, 784],
// fc1.bias, fc2.weight [512, 512], fc2.bias, fc3.weight [10, 512], fc3.bias) of x → fc1 → ReLU → fc2 → ReLU → fc3.
type Net []Param

// initParams draws nn.Linear's default, weight and bias ~ U(±1/sqrt(fan_in)), from the seeded RNG; or takes
// the given weights.
func initParams(rng *rand.Rand, tensors []contract.Tensor) Net {
	net := make(Net, len(contract.Shapes))
	for i, shape := range contract.Shapes {
		values := []float32(nil)
		if tensors != nil {
			values = tensors[i].Values
		} else { // fan_in: the columns of the layer's weight
			values = contract.Uniform(rng, 1/math.Sqrt(float64(contract.Shapes[i-i%2].Shape[1])), shape.Len())
		}
		net[i] = Param{values, make([]float32, len(values)), make([]float32, len(values))}
	}
	return net
}

// mat views data as a rows×cols row-major matrix, for gonum's Gemm.
func mat(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data[:rows*cols]}
}

// linear computes x[n, in] · Wᵀ + b for the layer of weight w [out, in] and bias b, then ReLU if asked.
func linear(w, b Param, x []float32, n int, relu bool) []float32 {
	out, in := len(b.Value), len(w.Value)/len(b.Value)
	y := make([]float32, n*out)
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, mat(n, in, x), mat(out, in, w.Value), 0, mat(n, out, y))
	for i := range y {
		y[i] += b.Value[i%out]
		if relu && y[i] < 0 {
			y[i] = 0
		}
	}
	return y
}

// forward returns the activations of n examples, x, h1, h2 and the logits, which backward needs.
func forward(net Net, x []float32, n int) [4][]float32 {
	h1 := linear(net[0], net[1], x, n, true)
	h2 := linear(net[2], net[3], h1, n, true)
	return [4][]float32{x, h1, h2, linear(net[4], net[5], h2, n, false)}
}

// softmax writes the softmax of the logits z into p, the largest logit subtracted first (exp cannot
// overflow); it returns log(sum of exp) − the largest logit, and the index of the largest (lowest on a tie).
func softmax(z, p []float32) (logSum float64, best int) {
	best = max(0, slices.Index(z, slices.Max(z))) // 0 when the logits are NaN (a diverged run)
	var sum float32
	for c := range z {
		p[c] = float32(math.Exp(float64(z[c] - z[best])))
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
	return math.Log(float64(sum)), best
}

// crossEntropy: the summed loss and correct predictions of n examples, and the gradient at the logits of
// their mean loss, (softmax − one-hot) / n.
func crossEntropy(logits []float32, labels []uint8, n int) (total float64, correct int, g []float32) {
	g = make([]float32, len(logits))
	for i, y := range labels[:n] {
		z, gi := logits[i*10:(i+1)*10], g[i*10:(i+1)*10]
		logSum, best := softmax(z, gi)
		total += logSum - float64(z[y]-z[best])
		if best == int(y) {
			correct++
		}
		gi[y]--
		for c := range gi {
			gi[c] /= float32(n)
		}
	}
	return total, correct, g
}

// ---------------------------------------------------------------- train step

// backward fills every parameter's gradient from g, the gradient at the logits, back through layers and ReLUs.
func backward(net Net, acts [4][]float32, g []float32, n int) {
	for l := 2; l >= 0; l-- {
		w, b, input := net[2*l], net[2*l+1], acts[l]
		out, in := len(b.Value), len(w.Value)/len(b.Value)
		// dW = gᵀ · input, db = the column sums of g
		blas32.Gemm(blas.Trans, blas.NoTrans, 1, mat(n, out, g), mat(n, in, input), 0, mat(out, in, w.Grad))
		clear(b.Grad)
		for i, v := range g {
			b.Grad[i%out] += v
		}
		if l > 0 { // the gradient at the layer's input, g · W, where the ReLU that made it let it through
			below := make([]float32, n*in)
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, mat(n, out, g), mat(out, in, w.Value), 0, mat(n, in, below))
			for i, v := range input {
				if v <= 0 {
					below[i] = 0
				}
			}
			g = below
		}
	}
}

// update is SGD with momentum in PyTorch's form (SPEC.md §3): v ← μ·v + g (v starts at 0), p ← p − lr·v.
func update(net Net, lr, momentum float32) {
	for _, p := range net {
		for i, g := range p.Grad {
			p.Velocity[i] = momentum*p.Velocity[i] + g
			p.Value[i] -= lr * p.Velocity[i]
		}
	}
}

// trainStep is one SGD step on n examples; it returns their summed loss and correct predictions.
func trainStep(net Net, x []float32, labels []uint8, n int, args contract.Args) (float64, int) {
	acts := forward(net, x, n)
	loss, correct, g := crossEntropy(acts[3], labels, n)
	backward(net, acts, g, n)
	update(net, float32(args.LR), float32(args.Momentum))
	return loss, correct
}

// trainEpoch is one epoch in a fresh random order (file order with --no-shuffle); mean loss and accuracy.
func trainEpoch(net Net, train contract.Split, args contract.Args, epoch int, rng *rand.Rand) (float64, float64) {
	order := contract.EpochOrder(train.Len(), args.Shuffle, rng)
	batches := (len(order) + args.BatchSize - 1) / args.BatchSize
	x, labels, totalLoss, correct := make([]float32, args.BatchSize*784), make([]uint8, args.BatchSize), 0.0, 0
	for b := 0; b < batches; b++ {
		batch := order[b*args.BatchSize : min((b+1)*args.BatchSize, len(order))]
		for i, example := range batch { // gather the batch's images and labels
			copy(x[i*784:(i+1)*784], train.Images[example*784:(example+1)*784])
			labels[i] = train.Labels[example]
		}
		loss, hits := trainStep(net, x, labels, len(batch), args)
		totalLoss, correct = totalLoss+loss, correct+hits
		seen := float64(b*args.BatchSize + len(batch))
		contract.ProgressTrain(epoch, args.Epochs, b+1, batches, func() float64 { return totalLoss / seen })
	}
	return totalLoss / float64(len(order)), float64(correct) / float64(len(order))
}

// ---------------------------------------------------------------- evaluate

// evaluate is the mean loss and accuracy over a whole split, in one pass.
func evaluate(net Net, split contract.Split) (float64, float64) {
	loss, correct, _ := crossEntropy(forward(net, split.Images, split.Len())[3], split.Labels, split.Len())
	return loss / float64(split.Len()), float64(correct) / float64(split.Len())
}

// predict logs the softmax probabilities of each image's ten classes (--predict).
func predict(net Net, images []float32) {
	logits, p := forward(net, images, len(images)/784)[3], make([]float32, 10)
	for i := 0; i < len(logits)/10; i++ {
		softmax(logits[i*10:(i+1)*10], p)
		contract.LogPredict(i, p)
	}
}

// ---------------------------------------------------------------- main

func run(args contract.Args) error {
	contract.LogStart("go", "gonum/"+contract.ModuleVersion("gonum.org/v1/gonum"), "cpu")
	tensors := contract.Must(contract.LoadWeights(args.Init)) // nil without --init/--load

	if args.Predict != "" { // classify the file's images with the --load weights, and nothing else
		predict(initParams(nil, tensors), contract.Must(contract.ReadImages(args.Predict)))
		return nil
	}
	contract.LogConfig(args)
	splits := contract.Must(contract.LoadData(args))
	contract.LogData(splits)
	rng := contract.Seeded(args.Seed)
	net := initParams(rng, tensors)

	for epoch := 1; epoch <= args.Epochs; epoch++ {
		started := time.Now()
		trainLoss, trainAcc := trainEpoch(net, splits.Train, args, epoch, rng)
		seconds := time.Since(started).Seconds()
		contract.Check(contract.CheckFinite(epoch, trainLoss))
		valLoss, valAcc := evaluate(net, splits.Val)
		contract.LogEpoch(epoch, trainLoss, trainAcc, valLoss, valAcc, seconds)
	}

	started := time.Now()
	testLoss, testAcc := evaluate(net, splits.Test)
	contract.LogTest(testLoss, testAcc, time.Since(started).Seconds())
	if args.Save == "" {
		return nil
	}
	saved := slices.Clone(contract.Shapes) // the names and shapes, in the file's order
	for i, p := range net {
		saved[i].Values = p.Value
	}
	return contract.SaveWeights(args.Save, saved)
}

func main() {
	contract.Main("go", "Train the SPEC.md MLP on MNIST in Go: hand-written backprop, gonum's BLAS.", run)
}
