{-# LANGUAGE DeriveTraversable #-}
{-# LANGUAGE ScopedTypeVariables #-}
-- | The data (SPEC.md §1): IDX files, gzip-compressed or plain, checked and decoded to float32
-- pixels in [0, 1] and integer labels, and the train / validation / test split.
module Mnist.Contract.Idx
  ( Images (..)
  , Labels
  , Splits (..)
  , loadMnist
  , readImages
  , decodeImages
  , decodeLabels
  , gunzip
  , imageSize
  ) where

import qualified Codec.Compression.GZip as GZip
import Codec.Compression.Zlib.Internal (DecompressError (..))
import Control.Exception
import Control.Monad (unless, when)
import Data.Bits (shiftL, (.|.))
import qualified Data.ByteString as BS
import qualified Data.ByteString.Lazy as BL
import qualified Data.ByteString.Unsafe as BU
import Data.List (foldl')
import qualified Data.Vector.Storable as VS
import Data.Word (Word32)
import GHC.Clock (getMonotonicTime)
import Mnist.Contract.Cli (Config (..))
import Mnist.Contract.Errors (dataError)
import Mnist.Contract.Format (oneLine)
import Mnist.Contract.Progress (progressData)
import System.Directory (doesDirectoryExist)
import System.FilePath (takeFileName, (</>))
import System.IO.Error (isDoesNotExistError)

-- | Images, each 28·28 = 784 float32 pixels in [0, 1], row-major, one image after another.
data Images = Images
  { imageCount :: Int
  , pixels :: VS.Vector Float -- ^ imageCount · 784 values
  } deriving (Eq, Show)

-- | Labels 0–9, one per image.
type Labels = VS.Vector Int

-- | The split of SPEC.md §1. The image type is a parameter, so a row can turn 'Images' into
-- its framework's matrices with 'fmap'.
data Splits images = Splits
  { trainX :: images, trainY :: Labels
  , valX :: images, valY :: Labels
  , testX :: images, testY :: Labels
  } deriving (Functor, Foldable, Traversable)

side, imageSize, trainCount, testCount, valCount :: Int
side = 28
imageSize = side * side
trainCount = 60000
testCount = 10000
valCount = 10000

imageMagic, labelMagic :: Word32
imageMagic = 0x00000803
labelMagic = 0x00000801

-- | The dataset of the flags (--dataset, data root, --limit-train) and the seconds spent
-- reading and decoding it. Prints the progress line @stage=data@ first.
loadMnist :: Config -> IO (Splits Images, Double)
loadMnist cfg = do
  progressData (dataset cfg)
  started <- getMonotonicTime
  let directory = dataDir cfg </> dataset cfg
  present <- doesDirectoryExist directory
  unless present $
    dataError ("data directory " ++ directory ++ " not found: run `invoke data`, or point --data-dir / "
               ++ "MNIST_DATA_DIR at the folder that holds " ++ dataset cfg ++ "/")
  (train, trainLabels) <- readSplit directory "train-images-idx3-ubyte.gz" "train-labels-idx1-ubyte.gz" trainCount
  (test, testLabels) <- readSplit directory "t10k-images-idx3-ubyte.gz" "t10k-labels-idx1-ubyte.gz" testCount
  let split = trainCount - valCount
      limit = limitTrain cfg
      rows from count (Images _ px) = Images count (VS.slice (from * imageSize) (count * imageSize) px)
  finished <- getMonotonicTime
  pure ( Splits
           { trainX = rows 0 limit train, trainY = VS.take limit trainLabels
           , valX = rows split valCount train, valY = VS.drop split trainLabels
           , testX = test, testY = testLabels
           }
       , finished - started )

readSplit :: FilePath -> FilePath -> FilePath -> Int -> IO (Images, Labels)
readSplit directory imagesFile labelsFile expected = do
  let imagesPath = directory </> imagesFile
      labelsPath = directory </> labelsFile
  images <- either dataError pure . decodeImages imagesPath =<< gunzip imagesPath =<< readBytes imagesPath
  labels <- either dataError pure . decodeLabels labelsPath =<< gunzip labelsPath =<< readBytes labelsPath
  when (imageCount images /= expected || VS.length labels /= expected) $
    dataError (imagesPath ++ ": holds " ++ show (imageCount images) ++ " images and " ++ takeFileName labelsPath ++ " "
               ++ show (VS.length labels) ++ " labels, expected " ++ show expected ++ " of each")
  _ <- evaluate (pixels images) -- decode now, inside the data line's seconds
  pure (images, labels)

-- | An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's first
-- two bytes 1f 8b).
readImages :: FilePath -> IO Images
readImages path = do
  raw <- readBytes path
  bytes <- if BS.pack [0x1f, 0x8b] `BS.isPrefixOf` raw then gunzip path raw else pure raw
  either dataError pure (decodeImages path bytes)

-- | A file's bytes; a missing or unreadable file is a 'DataError'.
readBytes :: FilePath -> IO BS.ByteString
readBytes path = BS.readFile path `catch` \(e :: IOException) ->
  dataError (path ++ if isDoesNotExistError e then ": file not found" else ": cannot read (" ++ oneLine (show e) ++ ")")

-- | The decompressed bytes of gzip data (named by path in errors); truncated or corrupt data
-- is a 'DataError'.
gunzip :: FilePath -> BS.ByteString -> IO BS.ByteString
gunzip path raw = do
  decoded <- try (evaluate (BL.toStrict (GZip.decompress (BL.fromStrict raw))))
  case decoded of
    Right bytes -> pure bytes
    Left TruncatedInput -> dataError (path ++ ": not a valid gzip file (truncated)")
    Left (e :: DecompressError) -> dataError (path ++ ": not a valid gzip file (" ++ oneLine (show e) ++ ")")

be32 :: BS.ByteString -> Int -> Word32
be32 bytes at = foldl' (\acc i -> acc `shiftL` 8 .|. fromIntegral (BU.unsafeIndex bytes (at + i))) 0 [0 .. 3]

hex32 :: Word32 -> String
hex32 w = "0x" ++ [digits !! fromIntegral ((w `div` (16 ^ k)) `mod` 16) | k <- [7, 6 .. 0 :: Int]]
  where digits = "0123456789abcdef"

-- | IDX3 bytes (already decompressed; path names the file in errors) → images, or the error.
decodeImages :: FilePath -> BS.ByteString -> Either String Images
decodeImages name raw = do
  when (BS.length raw < 16) $
    Left (name ++ ": too short for an IDX image header (" ++ show (BS.length raw) ++ " bytes)")
  let header = map (toInteger . be32 raw) [0, 4, 8, 12]
      (magic, count, rows', cols') = (header !! 0, header !! 1, header !! 2, header !! 3)
  when (magic /= toInteger imageMagic) $
    Left (name ++ ": not an IDX image file (magic " ++ hex32 (fromInteger magic) ++ ", expected " ++ hex32 imageMagic ++ ")")
  when (rows' /= toInteger side || cols' /= toInteger side) $
    Left (name ++ ": images are " ++ show rows' ++ "x" ++ show cols' ++ ", expected 28x28")
  let payload = toInteger (BS.length raw - 16)
  when (payload /= count * rows' * cols') $
    Left (name ++ ": header says " ++ show count ++ " images, but holds " ++ show payload
          ++ " pixel bytes (expected " ++ show (count * rows' * cols') ++ ")")
  let n = fromInteger count
  pure (Images n (VS.generate (n * imageSize) (\i -> fromIntegral (BU.unsafeIndex raw (16 + i)) / 255)))

-- | IDX1 bytes (already decompressed) → labels, each 0–9, or the error.
decodeLabels :: FilePath -> BS.ByteString -> Either String Labels
decodeLabels name raw = do
  when (BS.length raw < 8) $
    Left (name ++ ": too short for an IDX label header (" ++ show (BS.length raw) ++ " bytes)")
  let magic = be32 raw 0
      count = toInteger (be32 raw 4)
  when (magic /= labelMagic) $
    Left (name ++ ": not an IDX label file (magic " ++ hex32 magic ++ ", expected " ++ hex32 labelMagic ++ ")")
  when (toInteger (BS.length raw - 8) /= count) $
    Left (name ++ ": header says " ++ show count ++ " labels, but holds " ++ show (BS.length raw - 8) ++ " bytes")
  let labels = VS.generate (fromInteger count) (fromIntegral . BU.unsafeIndex raw . (8 +))
  unless (VS.null labels || VS.maximum labels <= 9) $
    Left (name ++ ": label " ++ show (VS.maximum labels) ++ " is out of range 0-9")
  pure labels
