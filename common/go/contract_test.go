package contract

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, argv ...string) (Args, error) {
	t.Helper()
	args, help, err := ParseArgs(argv, "about", "/env/data")
	if help != "" {
		t.Fatalf("unexpected help for %v", argv)
	}
	return args, err
}

func TestDefaultsAreTheContracts(t *testing.T) {
	args, err := parse(t)
	want := Args{Dataset: "mnist", DataDir: "/env/data", Epochs: 5, BatchSize: 128, LR: 0.05, Momentum: 0.9,
		LimitTrain: 50000, Shuffle: true}
	if err != nil || args != want {
		t.Fatalf("got %+v, %v", args, err)
	}
	args, _ = parse(t, "--dataset", "fashion-mnist", "--epochs", "0", "--seed", "4294967295", "--no-shuffle",
		"--load", "w", "--predict", "x", "--data-dir", "d", "--epochs", "2")
	if args.Seed != math.MaxUint32 || args.Shuffle || args.Init != "w" || args.Predict != "x" || args.DataDir != "d" ||
		args.Epochs != 2 || args.Dataset != "fashion-mnist" {
		t.Fatalf("got %+v", args)
	}
}

func TestMistakesAreOneLineNamingTheFlag(t *testing.T) {
	cases := map[string]string{
		"--batch-size -5":     "--batch-size must be an integer >= 1, got '-5'",
		"--epochs 1.5":        "--epochs must be an integer >= 0, got '1.5'",
		"--lr abc":            "--lr must be a number > 0, got 'abc'",
		"--lr -0.1":           "--lr must be a number > 0, got '-0.1'",
		"--lr nan":            "--lr must be a number > 0, got 'nan'",
		"--lr 0x10":           "--lr must be a number > 0, got '0x10'",
		"--momentum 1":        "--momentum must be a number in [0, 1), got '1'",
		"--seed 4294967296":   "--seed must be an integer in 0..4294967295, got '4294967296'",
		"--limit-train 50001": "--limit-train must be an integer in 1..50000, got '50001'",
		"--dataset cifar10":   "--dataset must be one of mnist, fashion-mnist, got 'cifar10'",
		"--bogus":             "unrecognized arguments: --bogus (see --help)",
		"--epochs":            "argument --epochs: expected one argument (see --help)",
		"--init a --load b":   "argument --load: not allowed with argument --init",
		"--predict x":         "--predict needs the weights to classify with: add --load FILE",
		"--save /nowhere/w":   "--save: directory /nowhere does not exist",
		"--epochs 1 stray":    "unrecognized arguments: stray (see --help)",
	}
	for argv, message := range cases {
		_, err := parse(t, strings.Fields(argv)...)
		var failure *Failure
		if !errors.As(err, &failure) || failure.Status != ExitBadInput || failure.Error() != message {
			t.Errorf("%s: got %v, want %q", argv, err, message)
		}
	}
}

func TestHelpIsTheUsageWithTheRowsSentence(t *testing.T) {
	_, help, err := ParseArgs([]string{"--help"}, "Train the SPEC.md MLP in a test.", "")
	if err != nil || !strings.Contains(help, "Train the SPEC.md MLP in a test.") || !strings.Contains(help, "--limit-train") {
		t.Fatalf("%v\n%s", err, help)
	}
}

func idxImages(count, side int) []byte {
	raw := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, v := range []int{count, side, side} {
		raw = binary.BigEndian.AppendUint32(raw, uint32(v))
	}
	for i := 0; i < count*side*side; i++ {
		raw = append(raw, byte(i/(side*side)))
	}
	return raw
}

func idxLabels(count int) []byte {
	raw := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x801), uint32(count))
	for i := 0; i < count; i++ {
		raw = append(raw, byte(i%10))
	}
	return raw
}

func gz(raw []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(raw)
	w.Close()
	return out.Bytes()
}

func TestIdxFilesAreCheckedAndScaled(t *testing.T) {
	pixels, err := parseImages(idxImages(2, 28), "f", 2)
	if err != nil || len(pixels) != 2*784 || pixels[784] != float32(1)/255 {
		t.Fatalf("%v %d", err, len(pixels))
	}
	for _, c := range []struct {
		raw      []byte
		expected int
		message  string
	}{
		{idxImages(2, 28), 3, "f: holds 2 images, expected 3"},
		{idxImages(1, 14), -1, "f: images are 14x14, expected 28x28"},
		{idxImages(1, 28)[:16+783], -1, "f: header says 1 images, but holds 783 pixel bytes (expected 784)"},
		{append(idxLabels(8), make([]byte, 8)...), -1, "f: not an IDX image file (magic 0x00000801, expected 0x00000803)"},
	} {
		if _, err := parseImages(c.raw, "f", c.expected); err == nil || err.Error() != c.message {
			t.Errorf("got %v, want %q", err, c.message)
		}
	}
	bad := idxLabels(3)
	bad[9] = 10
	if _, err := parseLabels(bad, "l", 3); err == nil || err.Error() != "l: label 10 is out of range 0-9" {
		t.Errorf("got %v", err)
	}
}

func TestPredictReadsGzipOrPlainAndNamesBadFiles(t *testing.T) {
	dir := t.TempDir()
	plain, zipped := filepath.Join(dir, "plain.idx"), filepath.Join(dir, "zipped.idx")
	os.WriteFile(plain, idxImages(3, 28), 0o644)
	os.WriteFile(zipped, gz(idxImages(3, 28)), 0o644)
	a, err := ReadImages(plain)
	b, err2 := ReadImages(zipped)
	if err != nil || err2 != nil || len(a) != 3*Pixels || !equal(a, b) {
		t.Fatalf("%v %v %d", err, err2, len(a))
	}
	compressed := gz(idxImages(3, 28))
	os.WriteFile(zipped, compressed[:len(compressed)/2], 0o644)
	if _, err := ReadImages(zipped); err == nil || err.Error() != zipped+": not a valid gzip file (truncated)" {
		t.Errorf("got %v", err)
	}
	if _, err := ReadImages(filepath.Join(dir, "absent")); err == nil || !strings.HasSuffix(err.Error(), "absent: file not found") {
		t.Errorf("got %v", err)
	}
}

func TestTheDatasetIsSplitByPosition(t *testing.T) {
	dir := t.TempDir()
	mnist := filepath.Join(dir, "mnist")
	os.Mkdir(mnist, 0o755)
	os.WriteFile(filepath.Join(mnist, "train-images-idx3-ubyte.gz"), gz(idxImages(60000, 28)), 0o644)
	os.WriteFile(filepath.Join(mnist, "train-labels-idx1-ubyte.gz"), gz(idxLabels(60000)), 0o644)
	os.WriteFile(filepath.Join(mnist, "t10k-images-idx3-ubyte.gz"), gz(idxImages(10000, 28)), 0o644)
	os.WriteFile(filepath.Join(mnist, "t10k-labels-idx1-ubyte.gz"), gz(idxLabels(10000)), 0o644)
	s, err := LoadSplits(dir, "mnist", 2000)
	if err != nil || s.Train.Len() != 2000 || s.Val.Len() != 10000 || s.Test.Len() != 10000 ||
		s.Val.Images[0] != float32(50000%256)/255 {
		t.Fatalf("%v %d %d %d", err, s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	os.WriteFile(filepath.Join(mnist, "t10k-labels-idx1-ubyte.gz"), []byte("not gzip"), 0o644)
	if _, err := LoadSplits(dir, "mnist", 10); err == nil || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte.gz: not a valid gzip file") {
		t.Errorf("got %v", err)
	}
	if _, err := LoadSplits(dir, "fashion-mnist", 10); err == nil || !strings.HasPrefix(err.Error(), "data directory "+filepath.Join(dir, "fashion-mnist")+" not found") {
		t.Errorf("got %v", err)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contractTensors() []Tensor {
	tensors := make([]Tensor, len(Shapes))
	for i, s := range Shapes {
		values := make([]float32, count(s.Shape))
		for j := range values {
			values[j] = float32(i) + float32(j)*0.001
		}
		tensors[i] = Tensor{s.Name, s.Shape, values}
	}
	return tensors
}

func TestWeightsRoundTripAndBadFilesAreNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := SaveWeights(path, contractTensors()); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadWeights(path)
	for i, want := range contractTensors() {
		if err != nil || loaded[i].Name != want.Name || !equal(loaded[i].Values, want.Values) {
			t.Fatalf("%v: tensor %d differs", err, i)
		}
	}
	if none, err := LoadWeights(""); none != nil || err != nil {
		t.Errorf("no path: got %v, %v", none, err)
	}
	raw, _ := os.ReadFile(path)
	if length := binary.LittleEndian.Uint64(raw); length%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", length)
	}
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		return p
	}
	header := func(json string, payload int) []byte {
		return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(json))), json...), make([]byte, payload)...)
	}
	for file, message := range map[string]string{
		write("renamed", bytes.Replace(raw, []byte("fc3.bias"), []byte("fc9.bias"), 1)):                                 "weights file lacks tensor fc3.bias",
		write("reshaped", bytes.Replace(raw, []byte("[512,512]"), []byte("[256,1024]"), 1)):                             "tensor fc2.weight has shape [256 1024], expected [512 512]",
		write("ints", bytes.Replace(raw, []byte(`"F32"`), []byte(`"I32"`), 1)):                                          "tensor fc1.weight is I32, expected F32 (float32)",
		write("garbage", bytes.Repeat([]byte{0xff}, 64)):                                                                "not a safetensors file (header length 18446744073709551615)",
		write("lying", header(`{"fc1.weight":{"dtype":"F32","shape":[512,784],"data_offsets":[0,1099511627776]}}`, 16)): "not a safetensors file (tensor fc1.weight's data_offsets lie outside the file or disagree with its shape)",
		filepath.Join(dir, "absent"): "weights file not found",
	} {
		if _, err := LoadWeights(file); err == nil || err.Error() != file+": "+message {
			t.Errorf("got %v, want %q", err, message)
		}
	}
}

func capture(t *testing.T, f func()) (string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	savedOut, savedErr := stdout, stderr
	stdout, stderr = &out, &errs
	defer func() { stdout, stderr = savedOut, savedErr }()
	f()
	return out.String(), errs.String()
}

func TestLogLinesHaveTheContractsFieldsAndDigits(t *testing.T) {
	out, _ := capture(t, func() {
		LogConfig(Args{Dataset: "mnist", Epochs: 5, BatchSize: 128, LR: 1e-5, Momentum: 0.9, Seed: 7, LimitTrain: 2000, Init: "w"})
		LogEpoch(2, 0.1234567, 0.5, 1, 0.25, 1.2345)
		LogPredict(3, []float32{0, 0.1, 0.4, 0.4, 0, 0, 0, 0, 0.1, 0})
	})
	want := "event=config dataset=mnist epochs=5 batch_size=128 lr=1e-05 momentum=0.9 seed=7 limit_train=2000 shuffle=0 init=1\n" +
		"event=epoch epoch=2 train_loss=0.123457 train_acc=0.500000 val_loss=1.000000 val_acc=0.250000 seconds=1.234\n" +
		"event=predict index=3 class=2 p0=0.000000 p1=0.100000 p2=0.400000 p3=0.400000 p4=0.000000 p5=0.000000 p6=0.000000 p7=0.000000 p8=0.100000 p9=0.000000\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	for v, text := range map[float64]string{0.05: "0.05", 1e-5: "1e-05", 1e6: "1000000.0", 1e20: "1e+20", 0: "0.0", 1.5e-7: "1.5e-07"} {
		if got := pyNumber(v); got != text {
			t.Errorf("pyNumber(%v) = %q, want %q", v, got, text)
		}
	}
}

func TestTrainProgressIsRateLimitedAndReadsTheLossOnlyWhenPrinted(t *testing.T) {
	reads := 0
	loss := func() float64 { reads++; return 1.5 * float64(reads) }
	_, errs := capture(t, func() {
		progress.printed = false
		start := time.Unix(100, 0)
		progressTrainAt(start, 1, 5, 1, 391, loss)
		progressTrainAt(start.Add(100*time.Millisecond), 1, 5, 2, 391, loss)
		progressTrainAt(start.Add(250*time.Millisecond), 1, 5, 3, 391, loss)
	})
	want := "event=progress stage=train epoch=1 epochs=5 batch=1 batches=391 loss=1.500000\n" +
		"event=progress stage=train epoch=1 epochs=5 batch=3 batches=391 loss=3.000000\n"
	if errs != want || reads != 2 {
		t.Errorf("got %q (%d reads)", errs, reads)
	}
}

func TestMainTurnsFailuresIntoOneLineAndAStatus(t *testing.T) {
	for _, c := range []struct {
		argv   []string
		run    func(Args) error
		status int
		last   string
	}{
		{nil, func(Args) error { return nil }, 0, "event=progress stage=start row=test"},
		{[]string{"--batch-size", "0"}, nil, 2, "error: --batch-size must be an integer >= 1, got '0'"},
		{nil, func(Args) error { return CheckFinite(2, math.NaN()) }, 3,
			"error: training diverged in epoch 2: the training loss is NaN; try a smaller --lr"},
		{nil, func(Args) error { return errors.New("gemm failed\n\tdetails") }, 1, "error: internal error: gemm failed"},
		{nil, func(Args) error { panic("index out of range") }, 1, "error: internal error: index out of range"},
		{nil, func(Args) error { Must(LoadWeights("/nowhere/w")); return nil }, 2,
			"error: /nowhere/w: weights file not found"},
		{nil, func(Args) error { Check(CheckFinite(1, math.Inf(1))); return nil }, 3,
			"error: training diverged in epoch 1: the training loss is +Inf; try a smaller --lr"},
	} {
		var status int
		_, errs := capture(t, func() { status = execute("test", "about", c.argv, "/data", c.run) })
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if status != c.status || lines[len(lines)-1] != c.last {
			t.Errorf("%v: status %d, stderr %q", c.argv, status, errs)
		}
	}
}

func TestEpochOrderIsSeededAndAPermutation(t *testing.T) {
	a, b := EpochOrder(1000, true, Seeded(4294967295)), EpochOrder(1000, true, Seeded(4294967295))
	seen := make([]bool, 1000)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same seed gave two orders")
		}
		seen[a[i]] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("%d is missing", i)
		}
	}
	if plain := EpochOrder(5, false, Seeded(0)); plain[0] != 0 || plain[4] != 4 {
		t.Errorf("file order: %v", plain)
	}
	for _, v := range Uniform(Seeded(0), 0.5, 1000) {
		if v < -0.5 || v >= 0.5 {
			t.Fatalf("%v outside U(-0.5, 0.5)", v)
		}
	}
}
