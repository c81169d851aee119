{-# LANGUAGE OverloadedStrings #-}
{-# LANGUAGE ScopedTypeVariables #-}
-- | The weights file (SPEC.md §5): safetensors with exactly six float32 tensors, PyTorch's
-- names and layout. A tensor is its flat row-major data; 'tensorShapes' gives the shapes.
module Mnist.Contract.Weights
  ( Tensors
  , tensorShapes
  , loadWeights
  , saveWeights
  , decodeWeights
  , encodeWeights
  ) where

import Control.Exception (IOException, catch)
import Control.Monad (forM, forM_, unless, when)
import qualified Data.Aeson as Aeson
import qualified Data.Aeson.Key as Key
import qualified Data.Aeson.KeyMap as KeyMap
import Data.Bits (shiftL, (.|.))
import qualified Data.ByteString as BS
import qualified Data.ByteString.Builder as BB
import qualified Data.ByteString.Lazy as BL
import qualified Data.ByteString.Unsafe as BU
import Data.List (intercalate, sort, sortOn)
import qualified Data.Map.Strict as Map
import qualified Data.Vector.Storable as VS
import Data.Word (Word32, Word64)
import GHC.Float (castFloatToWord32, castWord32ToFloat)
import Mnist.Contract.Errors (dataError)
import Mnist.Contract.Format (oneLine)
import System.Directory (doesFileExist)

-- | The six tensors by name (fc1.weight, fc1.bias, …), each flat and row-major.
type Tensors = Map.Map String (VS.Vector Float)

-- | The contract's tensors and shapes, in file order.
tensorShapes :: [(String, [Int])]
tensorShapes =
  [ ("fc1.weight", [512, 784]), ("fc1.bias", [512])
  , ("fc2.weight", [512, 512]), ("fc2.bias", [512])
  , ("fc3.weight", [10, 512]), ("fc3.bias", [10]) ]

dtypeSizes :: [(String, Int)]
dtypeSizes = [("BOOL", 1), ("U8", 1), ("I8", 1), ("F8_E5M2", 1), ("F8_E4M3", 1), ("I16", 2), ("U16", 2), ("F16", 2), ("BF16", 2),
              ("I32", 4), ("U32", 4), ("F32", 4), ("I64", 8), ("U64", 8), ("F64", 8)]

data Entry = Entry {dtype :: String, shape :: [Int], begin :: Int}

-- | Read and check a safetensors file: exactly the six F32 tensors of the contract's shapes.
-- A missing or malformed file is a 'DataError' naming the file.
loadWeights :: FilePath -> IO Tensors
loadWeights path = do
  isFile <- doesFileExist path
  unless isFile $ dataError (path ++ ": weights file not found")
  bytes <- BS.readFile path `catch` \(e :: IOException) -> dataError (path ++ ": cannot read (" ++ oneLine (show e) ++ ")")
  either dataError pure (decodeWeights path bytes)

-- | Check and decode a safetensors file's bytes (path names it in errors).
decodeWeights :: FilePath -> BS.ByteString -> Either String Tensors
decodeWeights path bytes = do
  let failWith reason = Left (path ++ ": " ++ reason)
      bad reason = failWith ("not a safetensors file (" ++ reason ++ ")")
      fileSize = BS.length bytes
  when (fileSize < 8) $ bad "shorter than its 8-byte header length"
  let headerLen = foldr (\i acc -> acc `shiftL` 8 .|. fromIntegral (BS.index bytes i)) 0 [0 .. 7] :: Word64
  when (headerLen > fromIntegral (fileSize - 8)) $ bad ("header length " ++ show headerLen ++ " exceeds the file")
  let headerBytes = BS.take (fromIntegral headerLen) (BS.drop 8 bytes)
      buffer = BS.drop (8 + fromIntegral headerLen) bytes
  header <- case Aeson.eitherDecodeStrict' headerBytes of
    Right (Aeson.Object o) -> pure o
    Right _ -> bad "header is not a JSON object"
    Left err -> bad ("header is not valid JSON: " ++ oneLine err)
  entries <- forM [(Key.toString k, v) | (k, v) <- KeyMap.toList header, Key.toString k /= "__metadata__"] $ \(name, value) ->
    case value of
      Aeson.Object o
        | Just (Aeson.String dt) <- KeyMap.lookup "dtype" o
        , Aeson.Success (dims :: [Int]) <- maybe (Aeson.Error "") Aeson.fromJSON (KeyMap.lookup "shape" o)
        , Aeson.Success [b, e] <- maybe (Aeson.Error "") Aeson.fromJSON (KeyMap.lookup "data_offsets" o) :: Aeson.Result [Int]
        , all (>= 0) dims ->
            case lookup (show' dt) dtypeSizes of
              _ | b < 0 || b > e || e > BS.length buffer -> bad ("tensor " ++ name ++ ": data_offsets outside the data")
              Nothing -> bad ("tensor " ++ name ++ " has unknown dtype " ++ show' dt)
              Just bytesPer
                | e - b /= bytesPer * product dims -> bad ("tensor " ++ name ++ ": data_offsets do not match its shape and dtype")
                | otherwise -> pure (name, (Entry (show' dt) dims b, e))
      _ -> bad ("tensor " ++ name ++ ": malformed entry")
  -- the tensors must tile the data buffer exactly, as the safetensors format requires
  let spans = sortOn fst [(begin entry, e) | (_, (entry, e)) <- entries]
  unless (and (zipWith (\(_, e) (b, _) -> e == b) spans (drop 1 spans)) && map fst (take 1 spans) `elem` [[0], []]
          && (if null spans then BS.null buffer else snd (last spans) == BS.length buffer)) $
    bad "tensors do not cover the data buffer exactly"
  let names = map fst entries
  forM_ tensorShapes $ \(name, _) -> unless (name `elem` names) $ failWith ("weights file lacks tensor " ++ name)
  forM_ (sort names) $ \name -> unless (name `elem` map fst tensorShapes) $
    failWith ("weights file has unexpected tensor " ++ name)
  tensors <- forM tensorShapes $ \(name, wanted) -> do
    entry <- maybe (failWith ("weights file lacks tensor " ++ name)) (pure . fst) (lookup name entries)
    when (dtype entry /= "F32") $ failWith ("tensor " ++ name ++ " is " ++ dtype entry ++ ", expected F32")
    when (shape entry /= wanted) $
      failWith ("tensor " ++ name ++ " has shape " ++ showList' (shape entry) ++ ", expected " ++ showList' wanted)
    pure (name, VS.generate (product wanted) (\i -> castWord32ToFloat (le32 buffer (begin entry + 4 * i))))
  pure (Map.fromList tensors)
  where
    show' = filter (/= '"') . show
    showList' xs = "[" ++ intercalate ", " (map show xs) ++ "]"
    le32 buf at = foldr (\i acc -> acc `shiftL` 8 .|. fromIntegral (BU.unsafeIndex buf (at + i))) 0 [0 .. 3] :: Word32

-- | Write the six tensors as float32 safetensors. A file that cannot be written is a
-- 'DataError'.
saveWeights :: FilePath -> Tensors -> IO ()
saveWeights path tensors =
  BL.writeFile path (encodeWeights tensors) `catch` \(e :: IOException) ->
    dataError (path ++ ": cannot write weights (" ++ oneLine (show e) ++ ")")

-- | The safetensors bytes of the six tensors, in the contract's order, the JSON header padded
-- with spaces to a multiple of 8 bytes. Each tensor must be present with its shape's size.
encodeWeights :: Tensors -> BL.ByteString
encodeWeights tensors = BB.toLazyByteString builder
  where
    values = [tensor name (product dims) | (name, dims) <- tensorShapes]
    tensor name size = case Map.lookup name tensors of
      Just v | VS.length v == size -> v
      _ -> error ("saveWeights: tensor " ++ name ++ " is missing or has the wrong size")
    offsets = scanl (+) 0 (map ((* 4) . VS.length) values)
    entry (name, dims) b e =
      "\"" ++ name ++ "\":{\"dtype\":\"F32\",\"shape\":" ++ "[" ++ intercalate "," (map show dims) ++ "]"
        ++ ",\"data_offsets\":[" ++ show b ++ "," ++ show e ++ "]}"
    json = "{" ++ intercalate "," (zipWith3 entry tensorShapes offsets (drop 1 offsets)) ++ "}"
    padded = json ++ replicate ((8 - length json `mod` 8) `mod` 8) ' '
    builder = BB.word64LE (fromIntegral (length padded)) <> BB.string7 padded
      <> foldMap (VS.foldr (\x acc -> BB.word32LE (castFloatToWord32 x) <> acc) mempty) values
