# The weights file (SPEC.md §5): safetensors, an 8-byte little-endian header length, a JSON header,
# then the raw little-endian data. The header is parsed by hand (standard library only) with a
# small strict JSON reader; the format's own rules are checked (well-formed entries, the data
# covered exactly) and then the contract's (these six tensors, F32, these shapes).

struct JSONError <: Exception
    msg::String
end

mutable struct JSONReader
    text::Vector{UInt8}
    at::Int
end

function skip_space!(r::JSONReader)
    while r.at <= length(r.text) && r.text[r.at] in (UInt8(' '), UInt8('\t'), UInt8('\n'), UInt8('\r'))
        r.at += 1
    end
end

peek_byte(r::JSONReader) = r.at <= length(r.text) ? r.text[r.at] : throw(JSONError("unexpected end"))

function expect!(r::JSONReader, c::Char)
    skip_space!(r)
    peek_byte(r) == UInt8(c) || throw(JSONError("expected '$c' at byte $(r.at - 1)"))
    r.at += 1
end

function read_value!(r::JSONReader, depth::Int=0)
    depth > 64 && throw(JSONError("nested too deeply"))
    skip_space!(r)
    c = Char(peek_byte(r))
    if c == '{'
        r.at += 1
        object = Dict{String,Any}()
        skip_space!(r)
        if peek_byte(r) == UInt8('}')
            r.at += 1
            return object
        end
        while true
            skip_space!(r)
            peek_byte(r) == UInt8('"') || throw(JSONError("expected a key at byte $(r.at - 1)"))
            key = read_string!(r)
            haskey(object, key) && throw(JSONError("duplicate key $key"))
            expect!(r, ':')
            object[key] = read_value!(r, depth + 1)
            skip_space!(r)
            next = peek_byte(r)
            r.at += 1
            next == UInt8('}') && return object
            next == UInt8(',') || throw(JSONError("expected ',' or '}' at byte $(r.at - 2)"))
        end
    elseif c == '['
        r.at += 1
        array = Any[]
        skip_space!(r)
        if peek_byte(r) == UInt8(']')
            r.at += 1
            return array
        end
        while true
            push!(array, read_value!(r, depth + 1))
            skip_space!(r)
            next = peek_byte(r)
            r.at += 1
            next == UInt8(']') && return array
            next == UInt8(',') || throw(JSONError("expected ',' or ']' at byte $(r.at - 2)"))
        end
    elseif c == '"'
        return read_string!(r)
    elseif c == '-' || isdigit(c)
        start = r.at
        while r.at <= length(r.text) && (isdigit(Char(r.text[r.at])) || Char(r.text[r.at]) in "+-.eE")
            r.at += 1
        end
        word = String(r.text[start:r.at-1])
        value = tryparse(Int, word)
        value === nothing && (value = tryparse(Float64, word))
        value === nothing && throw(JSONError("bad number $word"))
        return value
    else
        for (word, value) in (("true", true), ("false", false), ("null", nothing))
            stop = r.at + length(word) - 1
            if stop <= length(r.text) && String(r.text[r.at:stop]) == word
                r.at = stop + 1
                return value
            end
        end
        throw(JSONError("unexpected character at byte $(r.at - 1)"))
    end
end

function read_string!(r::JSONReader)
    r.at += 1  # the opening quote
    out = IOBuffer()
    while true
        c = peek_byte(r)
        r.at += 1
        if c == UInt8('"')
            break
        elseif c == UInt8('\\')
            e = Char(peek_byte(r))
            r.at += 1
            if e == 'u'
                r.at + 3 <= length(r.text) || throw(JSONError("unexpected end"))
                code = tryparse(UInt16, String(r.text[r.at:r.at+3]); base=16)
                code === nothing && throw(JSONError("bad \\u escape"))
                r.at += 4
                print(out, isvalid(Char, code) ? Char(code) : '\ufffd')
            else
                i = findfirst(isequal(e), "\"\\/bfnrt")
                i === nothing && throw(JSONError("bad escape \\$e"))
                print(out, "\"\\/\b\f\n\r\t"[i])
            end
        elseif c < 0x20
            throw(JSONError("control character in a string"))
        else
            write(out, c)
        end
    end
    text = String(take!(out))
    isvalid(text) || throw(JSONError("a string is not valid UTF-8"))
    return text
end

function parse_json(bytes::Vector{UInt8})
    r = JSONReader(bytes, 1)
    value = read_value!(r)
    skip_space!(r)
    r.at <= length(bytes) && throw(JSONError("trailing characters after the header object"))
    return value
end

# The format's dtypes and their sizes in bytes. (Tuples, not Dicts: building a constant Dict is
# compiled anew for its types, a tenth of a second of start-up on Julia 1.5.)
const DTYPES = ("BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                "I64", "U64", "F64")
const DTYPE_SIZES = (1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8)

"Bytes per element of a safetensors dtype; nothing for an unknown one."
function dtype_size(dtype::String)
    i = findfirst(isequal(dtype), DTYPES)
    return i === nothing ? nothing : DTYPE_SIZES[i]
end

is_count(x) = x isa Int && x >= 0

"The contract's six tensors (SPEC.md §5), PyTorch's names and [out, in] shapes, in file order."
const TENSOR_NAMES = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")
const SHAPES = ([512, 784], [512], [512, 512], [512], [10, 512], [10])

"The shape SPEC.md §5 gives the tensor `name`, one of TENSOR_NAMES."
shape_of(name::String) = SHAPES[findfirst(isequal(name), TENSOR_NAMES)]

"""Read and check a weights file: exactly the six tensors, F32, of the contract's shapes.
Returns the six arrays in the order of TENSOR_NAMES, a matrix in its PyTorch [out, in] shape (the
file is row-major, Julia column-major: the bytes are the [in, out] matrix, transposed once here)."""
function load_weights(path::String)
    isfile(path) || throw(DataError("$path: weights file not found"))
    bytes = try
        read(path)
    catch error
        throw(DataError("$path: cannot read weights ($(sprint(showerror, error)))"))
    end
    bad(why) = DataError("$path: not a safetensors file ($why)")
    length(bytes) < 8 && throw(bad("shorter than its 8-byte header length"))
    header_length = ltoh(reinterpret(UInt64, bytes[1:8])[1])
    header_length > length(bytes) - 8 && throw(bad("header length $header_length exceeds the file"))
    header = try
        parse_json(bytes[9:8+Int(header_length)])
    catch error
        error isa JSONError || rethrow()
        throw(bad("bad JSON header: $(error.msg)"))
    end
    header isa Dict{String,Any} || throw(bad("the header is not a JSON object"))
    data = view(bytes, 9+Int(header_length):length(bytes))

    # The safetensors format itself: every entry well-formed, the data covered exactly.
    entries = Dict{String,Any}()
    spans = Tuple{Int,Int}[]
    for (name, entry) in header
        name == "__metadata__" && continue
        ok = entry isa Dict{String,Any} && get(entry, "dtype", nothing) isa String &&
             dtype_size(entry["dtype"]) !== nothing && get(entry, "shape", nothing) isa Vector{Any} &&
             all(is_count, entry["shape"]) && get(entry, "data_offsets", nothing) isa Vector{Any} &&
             length(entry["data_offsets"]) == 2 && all(is_count, entry["data_offsets"])
        ok || throw(bad("tensor $name has a malformed header entry"))
        first_byte, stop = entry["data_offsets"]
        expected = dtype_size(entry["dtype"]) * prod(Int[entry["shape"]...])
        (first_byte <= stop <= length(data) && stop - first_byte == expected) ||
            throw(bad("tensor $name: data offsets do not match its dtype and shape"))
        entries[name] = entry
        push!(spans, (first_byte, stop))
    end
    covered = 0
    for (first_byte, stop) in sort!(spans)
        first_byte == covered || throw(bad("the tensors do not cover the data without gaps or overlaps"))
        covered = stop
    end
    covered == length(data) || throw(bad("the tensors do not cover the data without gaps or overlaps"))

    # The contract: these six tensors, F32, these shapes.
    for name in TENSOR_NAMES
        haskey(entries, name) || throw(DataError("$path: weights file lacks tensor $name"))
    end
    for name in sort!(collect(keys(entries)))
        name in TENSOR_NAMES || throw(DataError("$path: weights file has unexpected tensor $name"))
    end
    tensors = Array{Float32}[]
    for name in TENSOR_NAMES
        entry = entries[name]
        entry["dtype"] == "F32" || throw(DataError("$path: tensor $name is $(entry["dtype"]), expected F32"))
        shape = Int[entry["shape"]...]
        shape == shape_of(name) ||
            throw(DataError("$path: tensor $name has shape $shape, expected $(shape_of(name))"))
        first_byte, stop = entry["data_offsets"]
        flat = ltoh.(reinterpret(Float32, data[first_byte+1:stop]))
        push!(tensors, length(shape) == 2 ? permutedims(reshape(flat, shape[2], shape[1])) : Vector{Float32}(flat))
    end
    return tensors
end

"""Write the six tensors (arrays in PyTorch's shapes, in the order of TENSOR_NAMES) as an F32
safetensors file, row-major."""
function save_weights(path::String, tensors)
    length(tensors) == length(TENSOR_NAMES) || throw(ArgumentError("save_weights needs the six tensors"))
    entries, offset = String[], 0
    for (name, tensor) in zip(TENSOR_NAMES, tensors)
        tensor isa AbstractArray{Float32} && size(tensor) == Tuple(shape_of(name)) ||
            throw(ArgumentError("save_weights: $name is not a Float32 array of shape $(shape_of(name))"))
        nbytes = 4 * length(tensor)
        shape = join(shape_of(name), ",")
        push!(entries, "\"$name\":{\"dtype\":\"F32\",\"shape\":[$shape],\"data_offsets\":[$offset,$(offset + nbytes)]}")
        offset += nbytes
    end
    header = "{" * join(entries, ",") * "}"
    header *= " "^((8 - sizeof(header) % 8) % 8)  # pad so the data starts 8-byte aligned
    try
        open(path, "w") do io
            write(io, htol(UInt64(sizeof(header))))
            write(io, header)
            for tensor in tensors
                # Column-major [in, out] is row-major [out, in]: the file's layout.
                write(io, htol.(tensor isa Matrix ? permutedims(tensor) : tensor))
            end
        end
    catch error
        error isa SystemError || error isa Base.IOError || rethrow()
        throw(DataError("$path: cannot write weights ($(sprint(showerror, error)))"))
    end
end
