package contract

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TrainExamples is the size of the train split (SPEC.md §1), and so the largest --limit-train.
const TrainExamples = 50_000

// Args are the flags after checking (SPEC.md §4): --load merged into Init (which --predict then uses), the data
// root resolved, LimitTrain the number of training examples used.
type Args struct {
	Dataset    string // "mnist" or "fashion-mnist"
	DataDir    string
	Epochs     int
	BatchSize  int
	LR         float64
	Momentum   float64
	Seed       uint32
	LimitTrain int
	Shuffle    bool
	Init       string // --init or --load; "": random weights
	Save       string // "": do not save
	Predict    string // an IDX image file to classify with the --load weights; "": train
}

const usage = `usage: %s [--help] [--dataset {mnist,fashion-mnist}] [--data-dir DIR] [--epochs N]
       [--batch-size N] [--lr LR] [--momentum M] [--seed N] [--limit-train N] [--no-shuffle]
       [--init FILE | --load FILE] [--save FILE] [--predict IDX_FILE]

%s

options:
  -h, --help           show this help message and exit
  --dataset {mnist,fashion-mnist}  which dataset to train on (default: mnist)
  --data-dir DIR       data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)
  --epochs N           passes over the training set; 0 only evaluates (default: 5)
  --batch-size N       examples per SGD step (default: 128)
  --lr LR              learning rate (default: 0.05)
  --momentum M         SGD momentum in [0, 1) (default: 0.9)
  --seed N             seeds initialisation and shuffling, 0..4294967295 (default: 0)
  --limit-train N      train on the first N training examples only, 1..50000 (default: all 50000)
  --no-shuffle         keep the training examples in file order every epoch
  --init FILE          start from these safetensors weights instead of random ones
  --load FILE          same as --init; with --epochs 0 only evaluates
  --save FILE          write the trained weights to this safetensors file
  --predict IDX_FILE   classify the images of this IDX file (.gz or plain) with the --load weights
                       instead of training
`

// ParseArgs checks argv (without the program name) with the standard library's flag package; every value is
// read as text and checked here, so that mistakes read as in the other languages. help is the usage text when
// --help was asked for; err is a *Failure with status 2 for any mistake.
func ParseArgs(argv []string, about, envDataDir string) (args Args, help string, err error) {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	text := map[string]*string{}
	for _, name := range []string{"dataset", "data-dir", "epochs", "batch-size", "lr", "momentum", "seed",
		"limit-train", "init", "load", "save", "predict"} {
		text[name] = fs.String(name, "", "")
	}
	noShuffle := fs.Bool("no-shuffle", false, "")
	wantHelp := fs.Bool("help", false, "")
	fs.BoolVar(wantHelp, "h", false, "")
	if err := fs.Parse(argv); err != nil {
		message := err.Error()
		if name, found := strings.CutPrefix(message, "flag provided but not defined: -"); found {
			message = "unrecognized arguments: --" + strings.TrimPrefix(name, "-")
		} else if name, found := strings.CutPrefix(message, "flag needs an argument: -"); found {
			message = "argument --" + strings.TrimPrefix(name, "-") + ": expected one argument"
		}
		return args, "", BadInput("%s (see --help)", message)
	}
	if *wantHelp {
		return args, fmt.Sprintf(usage, filepath.Base(os.Args[0]), about), nil
	}
	if fs.NArg() > 0 {
		return args, "", BadInput("unrecognized arguments: %s (see --help)", strings.Join(fs.Args(), " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	value := func(name, fallback string) string {
		if given[name] {
			return *text[name]
		}
		return fallback
	}
	args = Args{Dataset: value("dataset", "mnist"), Shuffle: !*noShuffle, Save: value("save", ""),
		Predict: value("predict", "")}
	if args.Dataset != "mnist" && args.Dataset != "fashion-mnist" {
		return args, "", BadInput("--dataset must be one of mnist, fashion-mnist, got '%s'", args.Dataset)
	}
	checks := []error{
		integer("--epochs", value("epochs", "5"), 0, math.MaxInt32, "an integer >= 0", &args.Epochs),
		integer("--batch-size", value("batch-size", "128"), 1, math.MaxInt32, "an integer >= 1", &args.BatchSize),
		number("--lr", value("lr", "0.05"), func(v float64) bool { return v > 0 }, "a number > 0", &args.LR),
		number("--momentum", value("momentum", "0.9"), func(v float64) bool { return v >= 0 && v < 1 },
			"a number in [0, 1)", &args.Momentum),
		integer("--limit-train", value("limit-train", "50000"), 1, TrainExamples, "an integer in 1..50000",
			&args.LimitTrain),
	}
	var seed int
	checks = append(checks, integer("--seed", value("seed", "0"), 0, math.MaxUint32, "an integer in 0..4294967295", &seed))
	for _, err := range checks {
		if err != nil {
			return args, "", err
		}
	}
	args.Seed = uint32(seed)
	if given["init"] && given["load"] {
		return args, "", BadInput("argument --load: not allowed with argument --init")
	}
	args.Init = value("init", value("load", ""))
	if args.Predict != "" && !given["load"] {
		return args, "", BadInput("--predict needs the weights to classify with: add --load FILE")
	}
	args.DataDir = value("data-dir", envDataDir)
	if args.DataDir == "" {
		args.DataDir = "data"
	}
	if args.Save != "" {
		if info, err := os.Stat(filepath.Dir(args.Save)); err != nil || !info.IsDir() {
			return args, "", BadInput("--save: directory %s does not exist", filepath.Dir(args.Save))
		}
	}
	return args, "", nil
}

func integer(flagName, text string, low, high int64, wanted string, out *int) error {
	value, err := strconv.ParseInt(text, 10, 64)
	if err != nil || value < low || value > high {
		return BadInput("%s must be %s, got '%s'", flagName, wanted, text)
	}
	*out = int(value)
	return nil
}

func number(flagName, text string, ok func(float64) bool, wanted string, out *float64) error {
	value, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(value) || math.IsInf(value, 0) || !ok(value) ||
		strings.ContainsAny(strings.ToLower(text), "xpn_") {
		return BadInput("%s must be %s, got '%s'", flagName, wanted, text)
	}
	*out = value
	return nil
}
