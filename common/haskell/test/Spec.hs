{-# LANGUAGE ScopedTypeVariables #-}
-- | Unit tests of the contract library (hspec): flags, IDX, safetensors, log and progress
-- lines, errors and exit statuses, the epoch's batches. Run with common/haskell/test.sh.
module Main (main) where

import qualified Codec.Compression.GZip as GZip
import Control.Exception
import Control.Monad (forM_)
import qualified Data.ByteString as BS
import qualified Data.ByteString.Builder as BB
import qualified Data.ByteString.Char8 as BC
import qualified Data.ByteString.Lazy as BL
import Data.IORef
import Data.List (intercalate, isInfixOf, isPrefixOf, sort)
import qualified Data.Map.Strict as Map
import qualified Data.Vector.Storable as VS
import qualified Data.Vector.Unboxed as VU
import Data.Word (Word32, Word8)
import GHC.IO.Handle (hDuplicate, hDuplicateTo)
import Mnist.Contract.Batches
import Mnist.Contract.Cli
import Mnist.Contract.Errors
import Mnist.Contract.Format
import Mnist.Contract.Idx
import Mnist.Contract.Log
import Mnist.Contract.Progress
import Mnist.Contract.Weights
import System.Directory (createDirectoryIfMissing, getTemporaryDirectory, removeDirectoryRecursive)
import System.Exit
import System.FilePath ((</>))
import System.IO
import System.Random (mkStdGen)
import Test.Hspec

main :: IO ()
main = do
  tmpRoot <- getTemporaryDirectory
  (dir, h) <- openTempFile tmpRoot "mnist-contract-test"
  hClose h
  let tmp = dir ++ ".d"
  createDirectoryIfMissing True tmp
  hspec (spec tmp) `finally` removeDirectoryRecursive tmp

-- ---------------------------------------------------------------- helpers
-- | What an action prints on a handle (stdout or stderr), and its result or exception.
capture :: Handle -> FilePath -> IO a -> IO (String, Either SomeException a)
capture target path action = do
  hFlush target
  saved <- hDuplicate target
  withFile path WriteMode $ \file -> hDuplicateTo file target
  result <- try action
  hFlush target
  hDuplicateTo saved target
  hClose saved
  text <- readFile path
  length text `seq` pure (text, result)

parse :: [String] -> IO Config
parse argv = parseArgs "mnist-test" "test" argv Nothing

-- | The message of the usage error these flags give.
usageMessage :: [String] -> IO String
usageMessage argv = do
  result <- try (parse argv)
  case result of
    Left (UsageError msg) -> pure msg
    Left other -> expectationFailure ("not a usage error: " ++ show other) >> pure ""
    Right _ -> expectationFailure ("accepted: " ++ unwords argv) >> pure ""

word32be :: Word32 -> BB.Builder
word32be = BB.word32BE

idxImages :: Word32 -> Word32 -> Word32 -> Int -> [Word8] -> BS.ByteString
idxImages magic count side payload pixelValues = BL.toStrict (BB.toLazyByteString header) <> body
  where
    header = word32be magic <> word32be count <> word32be side <> word32be side
    pattern = BS.pack pixelValues
    body = fst (BS.unfoldrN payload (\i -> Just (BS.index pattern (i `mod` BS.length pattern), i + 1)) 0)

idxLabels :: Word32 -> Word32 -> [Word8] -> BS.ByteString
idxLabels magic count labels = BL.toStrict $ BB.toLazyByteString $
  word32be magic <> word32be count <> foldMap BB.word8 labels

gzipped :: BS.ByteString -> BS.ByteString
gzipped = BL.toStrict . GZip.compress . BL.fromStrict

-- | Six tensors of the contract's shapes, filled with distinct values.
sampleTensors :: Tensors
sampleTensors = Map.fromList
  [ (name, VS.generate (product dims) (\i -> fromIntegral (i `mod` 97) * 0.01 - fromIntegral k))
  | (k, (name, dims)) <- zip [0 :: Int ..] tensorShapes ]

-- | A safetensors file from a JSON header and a data buffer.
safetensors :: String -> BS.ByteString -> BS.ByteString
safetensors header buffer = BL.toStrict (BB.toLazyByteString (BB.word64LE (fromIntegral (length header))))
  <> BC.pack header <> buffer

-- | A header entry.
entry :: String -> String -> [Int] -> Int -> Int -> String
entry name dtype dims b e = "\"" ++ name ++ "\":{\"dtype\":\"" ++ dtype ++ "\",\"shape\":" ++ show dims
  ++ ",\"data_offsets\":[" ++ show b ++ "," ++ show e ++ "]}"

-- | A header and buffer for these (name, dtype, shape, bytes per value) tensors, tiling the buffer.
tensorFile :: [(String, String, [Int], Int)] -> BS.ByteString
tensorFile = tensorFileWith []

-- | The same, with extra raw header entries first (such as __metadata__).
tensorFileWith :: [String] -> [(String, String, [Int], Int)] -> BS.ByteString
tensorFileWith extra specs = safetensors header (BS.replicate (last offsets) 0)
  where
    offsets = scanl (+) 0 [product dims * size | (_, _, dims, size) <- specs]
    header = "{" ++ intercalate "," (extra ++ [entry n d s b e | ((n, d, s, _), b, e) <- zip3 specs offsets (drop 1 offsets)]) ++ "}"

-- | A data error whose message satisfies a predicate.
dataErrorWith :: (String -> Bool) -> Selector Failure
dataErrorWith check failure = case failure of
  DataError msg -> check msg
  _ -> False

contractSpecs :: [(String, String, [Int], Int)]
contractSpecs = [(name, "F32", dims, 4) | (name, dims) <- tensorShapes]

decodeError :: BS.ByteString -> String
decodeError bytes = either id (const "decoded") (decodeWeights "w.safetensors" bytes)

-- ---------------------------------------------------------------- tests
spec :: FilePath -> Spec
spec tmp = do
  describe "flags (Cli)" $ do
    it "has the contract's defaults" $ do
      cfg <- parse []
      cfg `shouldBe` Config "mnist" "data" 5 128 0.05 0.9 0 50000 True Nothing Nothing Nothing

    it "parses every flag" $ do
      cfg <- parse [ "--dataset", "fashion-mnist", "--data-dir", "/d", "--epochs", "0", "--batch-size", "7"
                   , "--lr", "5e-2", "--momentum", ".5", "--seed", "4294967295", "--limit-train", "2000"
                   , "--no-shuffle", "--load", "w.st", "--save", tmp </> "out.st", "--predict", "x.idx" ]
      cfg `shouldBe` Config "fashion-mnist" "/d" 0 7 0.05 0.5 4294967295 2000 False (Just "w.st")
                            (Just (tmp </> "out.st")) (Just "x.idx")

    it "resolves the data root: --data-dir, else a non-empty $MNIST_DATA_DIR, else data" $ do
      fmap dataDir (parseArgs "p" "d" ["--data-dir", "a"] (Just "b")) `shouldReturn` "a"
      fmap dataDir (parseArgs "p" "d" [] (Just "b")) `shouldReturn` "b"
      fmap dataDir (parseArgs "p" "d" [] (Just "")) `shouldReturn` "data"

    it "merges --init and --load into initFile" $ do
      fmap initFile (parse ["--init", "a"]) `shouldReturn` Just "a"
      fmap initFile (parse ["--load", "b"]) `shouldReturn` Just "b"

    it "answers a bad value with one line naming the flag" $ do
      usageMessage ["--batch-size", "-5"] `shouldReturn` "--batch-size must be an integer >= 1, got -5 (see --help)"
      usageMessage ["--lr", "abc"] `shouldReturn` "--lr must be a number > 0, got abc (see --help)"
      usageMessage ["--lr", "0"] `shouldReturn` "--lr must be a number > 0, got 0 (see --help)"
      usageMessage ["--momentum", "1"] `shouldReturn` "--momentum must be a number in [0, 1), got 1 (see --help)"
      usageMessage ["--limit-train", "50001"] `shouldReturn` "--limit-train must be an integer in 1..50000, got 50001 (see --help)"
      usageMessage ["--seed", "4294967296"] `shouldReturn` "--seed must be an integer in 0..4294967295, got 4294967296 (see --help)"
      usageMessage ["--epochs", "1.5"] `shouldReturn` "--epochs must be an integer >= 0, got 1.5 (see --help)"
      usageMessage ["--dataset", "cifar10"] `shouldReturn` "--dataset must be one of mnist, fashion-mnist, got cifar10 (see --help)"

    it "rejects unknown flags, missing values and stray arguments" $ do
      usageMessage ["--bogus"] `shouldReturn` "Invalid option `--bogus' (see --help)"
      usageMessage ["--epochs"] `shouldReturn` "The option `--epochs` expects an argument. (see --help)"
      msg <- usageMessage ["stray"]
      msg `shouldSatisfy` ("stray" `isInfixOf`)

    it "checks the combinations and --save's directory" $ do
      usageMessage ["--init", "a", "--load", "b"] `shouldReturn` "--init and --load are the same option; give only one"
      usageMessage ["--predict", "x"] `shouldReturn` "--predict needs the weights to classify with: add --load FILE"
      usageMessage ["--predict", "x", "--init", "w"] `shouldReturn` "--predict needs the weights to classify with: add --load FILE"
      usageMessage ["--save", tmp </> "missing" </> "w.st"]
        `shouldReturn` ("--save: directory " ++ tmp </> "missing" ++ " does not exist")

    it "prints --help to stdout and exits 0" $ do
      (out, result) <- capture stdout (tmp </> "help.txt") (parse ["--help"])
      out `shouldSatisfy` ("--limit-train" `isInfixOf`)
      either (\e -> fromException e `shouldBe` Just ExitSuccess) (const (expectationFailure "no exit")) result

    it "reads numbers only in plain decimal forms" $ do
      map parseDecimal ["0.05", ".5", "5.", "5e-2", "-1E+3", "+2"] `shouldBe` map Just [0.05, 0.5, 5, 0.05, -1000, 2]
      map parseDecimal ["", ".", "e5", "inf", "nan", "0x10", "1_0", "1e", "1e400", "1.2.3", " 1"] `shouldBe` replicate 11 Nothing

  describe "IDX files (Idx)" $ do
    let pixelsOf = [0, 255, 51]
    it "decodes images to float32 in [0, 1], row-major" $ do
      images <- either fail pure (decodeImages "i" (idxImages 0x803 2 28 (2 * 784) pixelsOf))
      imageCount images `shouldBe` 2
      VS.length (pixels images) `shouldBe` 2 * 784
      take 3 (VS.toList (pixels images)) `shouldBe` [0, 1, 51 / 255]

    it "checks the image header" $ do
      decodeImages "i" (BS.replicate 10 0) `shouldBe` Left "i: too short for an IDX image header (10 bytes)"
      decodeImages "i" (idxImages 0x801 1 28 784 [0])
        `shouldBe` Left "i: not an IDX image file (magic 0x00000801, expected 0x00000803)"
      decodeImages "i" (idxImages 0x803 1 27 729 [0]) `shouldBe` Left "i: images are 27x27, expected 28x28"
      decodeImages "i" (idxImages 0x803 10 28 7839 [0])
        `shouldBe` Left "i: header says 10 images, but holds 7839 pixel bytes (expected 7840)"
      decodeImages "i" (idxImages 0x803 1 28 785 [0])
        `shouldBe` Left "i: header says 1 images, but holds 785 pixel bytes (expected 784)"
      fmap imageCount (decodeImages "i" (idxImages 0x803 0 28 0 [0])) `shouldBe` Right 0

    it "decodes and checks labels" $ do
      decodeLabels "l" (idxLabels 0x801 3 [7, 0, 9]) `shouldBe` Right (VS.fromList [7, 0, 9])
      decodeLabels "l" (BS.replicate 7 0) `shouldBe` Left "l: too short for an IDX label header (7 bytes)"
      decodeLabels "l" (idxLabels 0x803 1 [1]) `shouldBe` Left "l: not an IDX label file (magic 0x00000803, expected 0x00000801)"
      decodeLabels "l" (idxLabels 0x801 3 [1, 2]) `shouldBe` Left "l: header says 3 labels, but holds 2 bytes"
      decodeLabels "l" (idxLabels 0x801 2 [1, 10]) `shouldBe` Left "l: label 10 is out of range 0-9"

    it "reads a --predict file gzip-compressed or plain, and rejects bad ones" $ do
      let raw = idxImages 0x803 3 28 (3 * 784) pixelsOf
      BS.writeFile (tmp </> "p.idx") raw
      BS.writeFile (tmp </> "p.idx.gz") (gzipped raw)
      plain <- readImages (tmp </> "p.idx")
      packed <- readImages (tmp </> "p.idx.gz")
      plain `shouldBe` packed
      imageCount plain `shouldBe` 3
      readImages (tmp </> "absent.idx") `shouldThrow` (== DataError (tmp </> "absent.idx" ++ ": file not found"))
      BS.writeFile (tmp </> "cut.gz") (BS.take (BS.length (gzipped raw) `div` 2) (gzipped raw))
      readImages (tmp </> "cut.gz") `shouldThrow` (== DataError (tmp </> "cut.gz" ++ ": not a valid gzip file (truncated)"))
      BS.writeFile (tmp </> "bad.gz") (BS.pack [0x1f, 0x8b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      readImages (tmp </> "bad.gz") `shouldThrow` dataErrorWith ("not a valid gzip file" `isInfixOf`)

    it "loads and splits a dataset, and names a missing directory or file" $ do
      let root = tmp </> "data"
          dir = root </> "mnist"
          write name bytes = BS.writeFile (dir </> name) (gzipped bytes)
          labelsOf n = take n (cycle [0 .. 9])
      createDirectoryIfMissing True dir
      cfg <- parse ["--data-dir", root, "--limit-train", "1234"]
      loadMnist cfg `shouldThrow` (== DataError (dir </> "train-images-idx3-ubyte.gz: file not found"))
      write "train-images-idx3-ubyte.gz" (idxImages 0x803 60000 28 (60000 * 784) [0, 255])
      write "train-labels-idx1-ubyte.gz" (idxLabels 0x801 60000 (labelsOf 60000))
      write "t10k-images-idx3-ubyte.gz" (idxImages 0x803 10 28 (10 * 784) [3])
      write "t10k-labels-idx1-ubyte.gz" (idxLabels 0x801 10 (labelsOf 10))
      loadMnist cfg `shouldThrow` (== DataError (dir </> "t10k-images-idx3-ubyte.gz: holds 10 images and "
        ++ "t10k-labels-idx1-ubyte.gz 10 labels, expected 10000 of each"))
      write "t10k-images-idx3-ubyte.gz" (idxImages 0x803 10000 28 (10000 * 784) [3])
      write "t10k-labels-idx1-ubyte.gz" (idxLabels 0x801 10000 (labelsOf 10000))
      (splits, seconds) <- loadMnist cfg
      seconds `shouldSatisfy` (>= 0)
      map imageCount [trainX splits, valX splits, testX splits] `shouldBe` [1234, 10000, 10000]
      map VS.length [trainY splits, valY splits, testY splits] `shouldBe` [1234, 10000, 10000]
      VS.length (pixels (valX splits)) `shouldBe` 10000 * 784
      VS.head (valY splits) `shouldBe` 0 -- example 50000
      VS.take 2 (pixels (valX splits)) `shouldBe` VS.fromList [0, 1] -- 50000·784 is even
      cfg' <- parse ["--data-dir", tmp </> "nowhere"]
      loadMnist cfg' `shouldThrow` (== DataError ("data directory " ++ tmp </> "nowhere" </> "mnist" ++ " not found: "
        ++ "run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder that holds mnist/"))

  describe "weights file (Weights)" $ do
    it "round-trips the six tensors" $
      decodeWeights "w" (BL.toStrict (encodeWeights sampleTensors)) `shouldBe` Right sampleTensors

    it "writes the contract's header, padded to 8 bytes, and little-endian float32 data" $ do
      let bytes = BL.toStrict (encodeWeights sampleTensors)
          headerLen = BS.foldr' (\b acc -> acc * 256 + fromIntegral b) 0 (BS.take 8 bytes) :: Int
          header = BC.unpack (BS.take headerLen (BS.drop 8 bytes))
      headerLen `mod` 8 `shouldBe` 0
      header `shouldSatisfy` isPrefixOf "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[512,784],\"data_offsets\":[0,1605632]}"
      BS.length bytes `shouldBe` 8 + headerLen + 4 * sum [product d | (_, d) <- tensorShapes]
      BS.unpack (BS.take 4 (BS.drop (8 + headerLen + 4) bytes)) `shouldBe` [0x0a, 0xd7, 0x23, 0x3c] -- 0.01f

    it "saves and loads a file" $ do
      saveWeights (tmp </> "w.safetensors") sampleTensors
      loadWeights (tmp </> "w.safetensors") `shouldReturn` sampleTensors
      loadWeights (tmp </> "none.safetensors") `shouldThrow` (== DataError (tmp </> "none.safetensors: weights file not found"))
      saveWeights (tmp </> "no" </> "w.safetensors") sampleTensors
        `shouldThrow` dataErrorWith ("cannot write weights" `isInfixOf`)

    it "accepts __metadata__ and any order of entries" $ do
      let file = tensorFileWith ["\"__metadata__\":{\"format\":\"pt\"}"] (reverse contractSpecs)
      fmap Map.keys (decodeWeights "w" file) `shouldBe` Right (sort (map fst tensorShapes))

    it "rejects files that are not safetensors" $ do
      decodeError (BS.pack [1, 2, 3]) `shouldBe` "w.safetensors: not a safetensors file (shorter than its 8-byte header length)"
      decodeError (safetensors "{}" BS.empty <> BS.empty) `shouldBe` "w.safetensors: weights file lacks tensor fc1.weight"
      decodeError (BS.pack [100, 0, 0, 0, 0, 0, 0, 0, 123])
        `shouldBe` "w.safetensors: not a safetensors file (header length 100 exceeds the file)"
      decodeError (safetensors "{nope" BS.empty) `shouldSatisfy` isInfixOf "header is not valid JSON"
      decodeError (safetensors "[1,2]" BS.empty) `shouldSatisfy` isInfixOf "header is not a JSON object"
      decodeError (safetensors "{\"fc1.weight\":3}" BS.empty) `shouldSatisfy` isInfixOf "tensor fc1.weight: malformed entry"
      decodeError (safetensors ("{" ++ entry "a" "F32" [2] 0 8 ++ "}") (BS.replicate 4 0))
        `shouldSatisfy` isInfixOf "tensor a: data_offsets outside the data"
      decodeError (safetensors ("{" ++ entry "a" "Q7" [2] 0 8 ++ "}") (BS.replicate 8 0))
        `shouldSatisfy` isInfixOf "tensor a has unknown dtype Q7"
      decodeError (safetensors ("{" ++ entry "a" "F32" [3] 0 8 ++ "}") (BS.replicate 8 0))
        `shouldSatisfy` isInfixOf "tensor a: data_offsets do not match its shape and dtype"
      decodeError (safetensors ("{" ++ entry "a" "F32" [2] 0 8 ++ "}") (BS.replicate 12 0))
        `shouldSatisfy` isInfixOf "tensors do not cover the data buffer exactly"

    it "rejects a missing, extra, mistyped or misshapen tensor" $ do
      decodeError (tensorFile (drop 1 contractSpecs)) `shouldBe` "w.safetensors: weights file lacks tensor fc1.weight"
      decodeError (tensorFile (contractSpecs ++ [("extra", "F32", [1], 4)]))
        `shouldBe` "w.safetensors: weights file has unexpected tensor extra"
      decodeError (tensorFile [if n == "fc2.bias" then (n, "F64", d, 8) else s | s@(n, _, d, _) <- contractSpecs])
        `shouldBe` "w.safetensors: tensor fc2.bias is F64, expected F32"
      decodeError (tensorFile [if n == "fc3.weight" then (n, t, [512, 10], 4) else s | s@(n, t, _, _) <- contractSpecs])
        `shouldBe` "w.safetensors: tensor fc3.weight has shape [512, 10], expected [10, 512]"

  describe "log lines (Log, Format)" $ do
    it "writes numbers as the contract does" $ do
      map (fixed 6) [0.5, 1 / 3, 2, -0.25, -1e-9, 0 / 0, 1 / 0, -1 / 0]
        `shouldBe` ["0.500000", "0.333333", "2.000000", "-0.250000", "0.000000", "nan", "inf", "-inf"]
      fixed 3 1.2345678 `shouldBe` "1.235"
      map pyRepr [0.05, 0.9, 1e-5, 1e-4, 1e6, 1e16, 123.456, 0, -2.5]
        `shouldBe` ["0.05", "0.9", "1e-05", "0.0001", "1000000.0", "1e+16", "123.456", "0.0", "-2.5"]

    it "picks the most probable class, the lowest on a tie" $ do
      bestClass [0.1, 0.7, 0.2] `shouldBe` 1
      bestClass [0.4, 0.1, 0.4, 0.1] `shouldBe` 0

    it "prints each event's fields in the contract's order" $ do
      cfg <- parse ["--epochs", "1", "--limit-train", "2000", "--lr", "1e-5", "--init", "w"]
      let splits = Splits () (VS.replicate 2000 0) () (VS.replicate 10000 0) () (VS.replicate 10000 0)
      (out, _) <- capture stdout (tmp </> "log.txt") $ do
        logStart "haskell" "hmatrix/0.20.2" "cpu"
        logConfig cfg
        logData splits 0.4124
        logWarmup 1.5
        logEpoch 1 0.9012344 0.7315 0.4123449 0.8812 0.1834
        logTest 0.425678 0.8791 0.0616
        logPredict 0 [0.1, 0.7, 0.2, 0, 0, 0, 0, 0, 0, 0]
      let (start, rest) = splitAt 1 (lines out)
      start `shouldSatisfy` all (\l -> "event=start row=haskell language=haskell/ghc-" `isPrefixOf` l
                                      && " framework=hmatrix/0.20.2 device=cpu" `isInfixOf` l)
      rest `shouldBe`
        [ "event=config dataset=mnist epochs=1 batch_size=128 lr=1e-05 momentum=0.9 seed=0 limit_train=2000 shuffle=1 init=1"
        , "event=data train=2000 val=10000 test=10000 seconds=0.412"
        , "event=warmup seconds=1.500"
        , "event=epoch epoch=1 train_loss=0.901234 train_acc=0.731500 val_loss=0.412345 val_acc=0.881200 seconds=0.183"
        , "event=test test_loss=0.425678 test_acc=0.879100 seconds=0.062"
        , "event=predict index=0 class=1 p0=0.100000 p1=0.700000 p2=0.200000 "
          ++ "p3=0.000000 p4=0.000000 p5=0.000000 p6=0.000000 p7=0.000000 p8=0.000000 p9=0.000000" ]
      length start `shouldBe` 1

  describe "progress lines (Progress)" $ do
    it "prints start, data and warmup, and rate-limits train lines to one per 0.25 s" $ do
      now <- newIORef (100 :: Double)
      out <- newIORef []
      p <- newProgress (readIORef now) (\l -> modifyIORef out (l :))
      let at t = writeIORef now t
      progressTrain' p 1 2 1 10 2.5 -- no line yet: printed
      at 100.1 >> progressStart' p "haskell"
      at 100.2 >> progressData' p "mnist"
      at 100.3 >> progressWarmup' p
      at 100.4 >> progressTrain' p 1 2 1 10 (error "the loss of a line that is not printed is not computed")
      at 100.6 >> progressTrain' p 1 2 2 10 1.25
      at 100.7 >> progressTrain' p 1 2 3 10 (error "not printed either")
      at 100.9 >> progressTrain' p 2 2 4 10 0.1234567
      readIORef out `shouldReturn` reverse
        [ "event=progress stage=train epoch=1 epochs=2 batch=1 batches=10 loss=2.500000"
        , "event=progress stage=start row=haskell"
        , "event=progress stage=data dataset=mnist"
        , "event=progress stage=warmup"
        , "event=progress stage=train epoch=1 epochs=2 batch=2 batches=10 loss=1.250000"
        , "event=progress stage=train epoch=2 epochs=2 batch=4 batches=10 loss=0.123457" ]
      minInterval `shouldBe` 0.25

    it "writes to stderr by default" $ do
      (err, _) <- capture stderr (tmp </> "progress.txt") (progressStart "haskell")
      err `shouldBe` "event=progress stage=start row=haskell\n"

  describe "errors and exit statuses (Errors)" $ do
    it "maps failures to exit statuses" $ do
      failureStatus (UsageError "u") `shouldBe` (2, "u")
      failureStatus (DataError "d") `shouldBe` (2, "d")
      failureStatus (Diverged "x") `shouldBe` (3, "x")

    it "stops a run whose training loss is not finite" $ do
      checkFinite 1 2.3 `shouldReturn` ()
      checkFinite 2 (0 / 0) `shouldThrow` (== Diverged "training diverged in epoch 2: the training loss is nan; try a smaller --lr")
      checkFinite 1 (1 / 0) `shouldThrow` (== Diverged "training diverged in epoch 1: the training loss is inf; try a smaller --lr")

    it "ends every failure with one error line and the contract's exit status" $ do
      let cases = [ (usageError "--lr must be a number > 0, got x", ExitFailure 2, "error: --lr must be a number > 0, got x\n")
                  , (dataError "f: file not found", ExitFailure 2, "error: f: file not found\n")
                  , (throwIO (Diverged "training diverged"), ExitFailure 3, "error: training diverged\n")
                  , (ioError (userError "boom\nsecond line"), ExitFailure 1, "error: internal error: user error (boom second line)\n")
                  , (pure (), ExitSuccess, "") ]
      forM_ cases $ \(action, status, line) -> do
        (err, result) <- capture stderr (tmp </> "err.txt") (runMain action >> throwIO ExitSuccess)
        err `shouldBe` line
        either (\e -> fromException e `shouldBe` Just status) (const (expectationFailure "no exit")) result

  describe "the epoch's batches (Batches)" $ do
    it "cuts an order into consecutive batches and keeps the last, partial one" $ do
      let bs = batches 128 (VU.enumFromN 0 50000)
      length bs `shouldBe` 391
      VU.length (last bs) `shouldBe` 80
      VU.concat bs `shouldBe` VU.enumFromN 0 50000

    it "keeps file order with --no-shuffle and draws a permutation otherwise" $ do
      noShuffle <- parse ["--no-shuffle", "--batch-size", "3"]
      shuffled <- parse ["--batch-size", "3"]
      let gen = mkStdGen 7
          (plain, _) = epochBatches noShuffle 10 gen
          (mixed, _) = epochBatches shuffled 10 gen
          (again, _) = epochBatches shuffled 10 gen
      map VU.toList plain `shouldBe` [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
      sort (concatMap VU.toList mixed) `shouldBe` [0 .. 9]
      map VU.toList mixed `shouldBe` map VU.toList again
      concatMap VU.toList mixed `shouldNotBe` [0 .. 9]
      let (p1, gen') = permutation 1000 (mkStdGen 0)
          (p2, _) = permutation 1000 gen'
      VU.toList p1 `shouldNotBe` VU.toList p2
