package contract

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// Tensor is one named tensor of the weights file: its shape and its values, row by row.
type Tensor struct {
	Name   string
	Shape  []int
	Values []float32
}

// Len is the number of values a tensor of its shape holds.
func (t Tensor) Len() int { return count(t.Shape) }

// Shapes are the contract's tensors in order (SPEC.md §5): PyTorch's names and [out, in] layout.
var Shapes = []Tensor{
	{Name: "fc1.weight", Shape: []int{512, 784}}, {Name: "fc1.bias", Shape: []int{512}},
	{Name: "fc2.weight", Shape: []int{512, 512}}, {Name: "fc2.bias", Shape: []int{512}},
	{Name: "fc3.weight", Shape: []int{10, 512}}, {Name: "fc3.bias", Shape: []int{10}},
}

type entry struct {
	Dtype   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

// LoadWeights reads the six tensors of a safetensors file, in the order of Shapes; nil for the path "" (no
// --init or --load). A missing file, a file that is not safetensors, a missing or extra tensor, a wrong dtype or
// shape is the user's mistake (status 2).
func LoadWeights(path string) ([]Tensor, error) {
	if path == "" {
		return nil, nil
	}
	if info, err := os.Stat(path); err != nil || info.IsDir() {
		return nil, BadInput("%s: weights file not found", path)
	}
	raw, err := readFile(path)
	if err != nil {
		return nil, err
	}
	entries, data, err := parseHeader(raw, path)
	if err != nil {
		return nil, err
	}
	for _, want := range Shapes {
		if _, ok := entries[want.Name]; !ok {
			return nil, BadInput("%s: weights file lacks tensor %s", path, want.Name)
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.ContainsFunc(Shapes, func(t Tensor) bool { return t.Name == name }) {
			return nil, BadInput("%s: weights file has unexpected tensor %s", path, name)
		}
	}
	tensors := make([]Tensor, len(Shapes))
	for i, want := range Shapes {
		e := entries[want.Name]
		if e.Dtype != "F32" {
			return nil, BadInput("%s: tensor %s is %s, expected F32 (float32)", path, want.Name, e.Dtype)
		}
		if !slices.Equal(e.Shape, toInt64(want.Shape)) {
			return nil, BadInput("%s: tensor %s has shape %v, expected %v", path, want.Name, e.Shape, want.Shape)
		}
		bytes := data[e.Offsets[0]:e.Offsets[1]]
		values := make([]float32, len(bytes)/4)
		for j := range values {
			values[j] = math.Float32frombits(binary.LittleEndian.Uint32(bytes[4*j:]))
		}
		tensors[i] = Tensor{want.Name, want.Shape, values}
	}
	return tensors, nil
}

func toInt64(shape []int) []int64 {
	out := make([]int64, len(shape))
	for i, d := range shape {
		out[i] = int64(d)
	}
	return out
}

// parseHeader reads the header and checks every tensor's offsets against the file and its shape.
func parseHeader(raw []byte, path string) (map[string]entry, []byte, error) {
	notSafetensors := func(why string, a ...any) error {
		return BadInput("%s: not a safetensors file (%s)", path, fmt.Sprintf(why, a...))
	}
	if len(raw) < 8 {
		return nil, nil, notSafetensors("%d bytes", len(raw))
	}
	length := binary.LittleEndian.Uint64(raw)
	if length < 2 || length > uint64(len(raw)-8) {
		return nil, nil, notSafetensors("header length %d", length)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+length], &header); err != nil {
		return nil, nil, notSafetensors("its header is not a JSON object")
	}
	data := raw[8+length:]
	entries := map[string]entry{}
	for name, text := range header {
		if name == "__metadata__" {
			continue
		}
		var e entry
		if err := json.Unmarshal(text, &e); err != nil || e.Dtype == "" || len(e.Offsets) != 2 {
			return nil, nil, notSafetensors("tensor %s is not described properly", name)
		}
		count, size := int64(1), int64(map[string]int{"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4,
			"F16": 2, "BF16": 2, "I16": 2, "U16": 2}[e.Dtype])
		if size == 0 {
			size = 1
		}
		for _, d := range e.Shape {
			count *= d
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) || end-begin != count*size {
			return nil, nil, notSafetensors("tensor %s's data_offsets lie outside the file or disagree with "+
				"its shape", name)
		}
		entries[name] = e
	}
	return entries, data, nil
}

// SaveWeights writes the six tensors (the names and shapes of Shapes) as a safetensors file.
func SaveWeights(path string, tensors []Tensor) error {
	var header strings.Builder
	var data []byte
	header.WriteString("{")
	for i, want := range Shapes {
		t := tensors[i]
		if t.Name != want.Name || !slices.Equal(t.Shape, want.Shape) || len(t.Values) != count(want.Shape) {
			return &Failure{ExitInternal, fmt.Sprintf("weights to save: tensor %d is %s %v with %d values, "+
				"expected %s %v", i, t.Name, t.Shape, len(t.Values), want.Name, want.Shape)}
		}
		shape, _ := json.Marshal(t.Shape)
		if i > 0 {
			header.WriteString(",")
		}
		fmt.Fprintf(&header, `"%s":{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, t.Name, shape, len(data),
			len(data)+4*len(t.Values))
		for _, v := range t.Values {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	header.WriteString("}")
	for header.Len()%8 != 0 { // the data starts 8-byte aligned
		header.WriteString(" ")
	}
	file := binary.LittleEndian.AppendUint64(nil, uint64(header.Len()))
	file = append(append(file, header.String()...), data...)
	if err := os.WriteFile(path, file, 0o644); err != nil {
		return BadInput("%s: cannot write weights (%v)", path, err)
	}
	return nil
}

func count(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
