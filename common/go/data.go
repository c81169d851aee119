package contract

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Sizes of the data (SPEC.md §1).
const (
	Pixels     = 28 * 28
	Classes    = 10
	trainCount = 60_000
	testCount  = 10_000
	valCount   = 10_000
)

// Split is n images (n×784 row by row, pixels/255) and their labels 0..9.
type Split struct {
	Images []float32
	Labels []uint8
}

// Len is the number of examples.
func (s Split) Len() int { return len(s.Labels) }

// Splits are the three splits of a dataset, and the seconds reading and decoding its files took.
type Splits struct {
	Train, Val, Test Split
	Seconds          float64
}

// LoadData prints the data progress line, then reads and splits args.Dataset under args.DataDir: train = the
// first LimitTrain of examples 0..49,999, val = 50,000..59,999, test = t10k.
func LoadData(args Args) (Splits, error) {
	ProgressData(args.Dataset)
	started := time.Now()
	splits, err := LoadSplits(args.DataDir, args.Dataset, args.LimitTrain)
	splits.Seconds = time.Since(started).Seconds()
	return splits, err
}

// LoadSplits reads the four .gz files of dataset under dataDir and splits them.
func LoadSplits(dataDir, dataset string, limitTrain int) (Splits, error) {
	directory := filepath.Join(dataDir, dataset)
	if info, err := os.Stat(directory); err != nil || !info.IsDir() {
		return Splits{}, BadInput("data directory %s not found: run `invoke data`, or point --data-dir / "+
			"MNIST_DATA_DIR at the folder that holds %s/", directory, dataset)
	}
	train, err := readSplit(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", trainCount)
	if err != nil {
		return Splits{}, err
	}
	test, err := readSplit(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", testCount)
	if err != nil {
		return Splits{}, err
	}
	first := trainCount - valCount
	val := Split{train.Images[first*Pixels:], train.Labels[first:]}
	used := min(limitTrain, first)
	return Splits{Train: Split{train.Images[:used*Pixels], train.Labels[:used]}, Val: val, Test: test}, nil
}

// ReadImages reads an IDX image file for --predict, gzip or plain (told apart by gzip's first two bytes), any
// number of images; it returns them scaled, row by row (Pixels values an image).
func ReadImages(path string) ([]float32, error) {
	raw, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		if raw, err = gunzip(raw, path); err != nil {
			return nil, err
		}
	}
	return parseImages(raw, path, -1)
}

func readSplit(directory, imagesFile, labelsFile string, expected int) (Split, error) {
	imagesPath, labelsPath := filepath.Join(directory, imagesFile), filepath.Join(directory, labelsFile)
	raw, err := readGz(imagesPath)
	if err != nil {
		return Split{}, err
	}
	images, err := parseImages(raw, imagesPath, expected)
	if err != nil {
		return Split{}, err
	}
	if raw, err = readGz(labelsPath); err != nil {
		return Split{}, err
	}
	labels, err := parseLabels(raw, labelsPath, expected)
	return Split{images, labels}, err
}

func readFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, BadInput("%s: file not found", path)
	case err != nil:
		return nil, BadInput("%s: cannot read (%v)", path, err)
	}
	return raw, nil
}

func gunzip(compressed []byte, path string) ([]byte, error) {
	reader, err := gzip.NewReader(bytes.NewReader(compressed))
	if err == nil {
		var raw []byte
		if raw, err = io.ReadAll(reader); err == nil {
			return raw, nil
		}
	}
	reason := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		reason = "truncated"
	}
	return nil, BadInput("%s: not a valid gzip file (%s)", path, reason)
}

func readGz(path string) ([]byte, error) {
	compressed, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return gunzip(compressed, path)
}

// parseImages checks an IDX image file's header against its size (and expected images, unless negative).
func parseImages(raw []byte, name string, expected int) ([]float32, error) {
	if len(raw) < 16 {
		return nil, BadInput("%s: too short for an IDX image header (%d bytes)", name, len(raw))
	}
	magic, count := binary.BigEndian.Uint32(raw), int64(binary.BigEndian.Uint32(raw[4:]))
	rows, cols := binary.BigEndian.Uint32(raw[8:]), binary.BigEndian.Uint32(raw[12:])
	if magic != 0x803 {
		return nil, BadInput("%s: not an IDX image file (magic 0x%08x, expected 0x00000803)", name, magic)
	}
	if rows != 28 || cols != 28 {
		return nil, BadInput("%s: images are %dx%d, expected 28x28", name, rows, cols)
	}
	if int64(len(raw)-16) != count*Pixels {
		return nil, BadInput("%s: header says %d images, but holds %d pixel bytes (expected %d)", name, count,
			len(raw)-16, count*Pixels)
	}
	if expected >= 0 && count != int64(expected) {
		return nil, BadInput("%s: holds %d images, expected %d", name, count, expected)
	}
	pixels := make([]float32, len(raw)-16)
	for i, p := range raw[16:] {
		pixels[i] = float32(p) / 255
	}
	return pixels, nil
}

func parseLabels(raw []byte, name string, expected int) ([]uint8, error) {
	if len(raw) < 8 {
		return nil, BadInput("%s: too short for an IDX label header (%d bytes)", name, len(raw))
	}
	magic, count := binary.BigEndian.Uint32(raw), int(binary.BigEndian.Uint32(raw[4:]))
	if magic != 0x801 {
		return nil, BadInput("%s: not an IDX label file (magic 0x%08x, expected 0x00000801)", name, magic)
	}
	if len(raw)-8 != count {
		return nil, BadInput("%s: header says %d labels, but holds %d bytes", name, count, len(raw)-8)
	}
	if count != expected {
		return nil, BadInput("%s: holds %d labels, expected %d", name, count, expected)
	}
	for _, label := range raw[8:] {
		if label > 9 {
			return nil, BadInput("%s: label %d is out of range 0-9", name, label)
		}
	}
	return raw[8:], nil
}
