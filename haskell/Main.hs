{-# LANGUAGE CPP #-}
{-# LANGUAGE DeriveTraversable #-}
{-# LANGUAGE FlexibleContexts #-}
{-# LANGUAGE OverloadedStrings #-}
{-# LANGUAGE RankNTypes #-}
{-# LANGUAGE ScopedTypeVariables #-}
{-# LANGUAGE StrictData #-}
-- | MNIST in Haskell with hmatrix: the SPEC.md MLP, hand-written backprop, SGD with momentum.
--
-- The network is data (a record of hmatrix matrices and vectors), forward and backward are
-- pure functions, and an epoch is a strict left fold over its batches carrying the parameters,
-- the momentum buffers and the running loss/accuracy. Matrix products go to BLAS (sgemm).
-- Build and run from the repository root (see README.md):
--
-- > sh haskell/build.sh && haskell/run.sh --epochs 1
module Main (main) where

import qualified Codec.Compression.GZip as GZip
import Codec.Compression.Zlib.Internal (DecompressError (..))
import Control.Exception hiding (evaluate)
import qualified Control.Exception as E
import Control.Monad (forM, forM_, unless, when)
import Control.Monad.ST (runST)
import qualified Data.Aeson as Aeson
import qualified Data.Aeson.Key as Key
import qualified Data.Aeson.KeyMap as KeyMap
import Data.Bits (shiftL, (.|.))
import qualified Data.ByteString as BS
import qualified Data.ByteString.Builder as BB
import qualified Data.ByteString.Lazy as BL
import qualified Data.ByteString.Unsafe as BU
import Data.Char (isDigit)
import Data.List (foldl', intercalate, sortOn)
import qualified Data.Vector.Storable as VS
import qualified Data.Vector.Unboxed as VU
import qualified Data.Vector.Unboxed.Mutable as VUM
import Data.Word (Word32, Word64)
import GHC.Clock (getMonotonicTime)
import GHC.Float (castFloatToWord32, castWord32ToFloat)
import Numeric (floatToDigits)
import Numeric.LinearAlgebra hiding (Vector, (<>))
import qualified Numeric.LinearAlgebra as LA
import qualified Options.Applicative as O
import System.Directory (doesDirectoryExist, doesFileExist)
import System.Environment (getArgs, lookupEnv)
import System.Exit
import System.FilePath (takeDirectory, takeFileName, (</>))
import System.IO
import System.IO.Error (isDoesNotExistError)
import System.Random (StdGen, mkStdGen, uniformR)
import System.Random.Stateful (runStateGen, uniformRM)

type Vec = LA.Vector Float
type Mat = Matrix Float
type Labels = VS.Vector Int

-- ---------------------------------------------------------------- errors (SPEC.md §7)
-- A user's mistake becomes one `error: ...` line and exit status 2; divergence exit status 3.
data Failure = UsageError String | DataError String | Diverged String
  deriving (Show)

instance Exception Failure

usageError, dataError :: String -> IO a
usageError = throwIO . UsageError
dataError = throwIO . DataError

-- ---------------------------------------------------------------- data (SPEC.md §1)
data Splits = Splits
  { trainX :: Mat, trainY :: Labels
  , valX :: Mat, valY :: Labels
  , testX :: Mat, testY :: Labels
  }

side, trainCount, testCount, valCount :: Int
side = 28
trainCount = 60000
testCount = 10000
valCount = 10000

imageMagic, labelMagic :: Word32
imageMagic = 0x00000803
labelMagic = 0x00000801

-- | A file's bytes; a missing or unreadable file is a DataError.
readBytes :: FilePath -> IO BS.ByteString
readBytes path = BS.readFile path `catch` \(e :: IOException) ->
  dataError (path ++ if isDoesNotExistError e then ": file not found" else ": cannot read (" ++ oneLine (show e) ++ ")")

-- | The decompressed bytes of a .gz file; a missing, truncated or corrupt file is a DataError.
readGz :: FilePath -> IO BS.ByteString
readGz path = gunzip path =<< readBytes path

gunzip :: FilePath -> BS.ByteString -> IO BS.ByteString
gunzip path raw = do
  decoded <- try (E.evaluate (BL.toStrict (GZip.decompress (BL.fromStrict raw))))
  case decoded of
    Right bytes -> pure bytes
    Left TruncatedInput -> dataError (path ++ ": not a valid gzip file (truncated)")
    Left (e :: DecompressError) -> dataError (path ++ ": not a valid gzip file (" ++ oneLine (show e) ++ ")")

be32 :: BS.ByteString -> Int -> Word32
be32 bytes at = foldl' (\acc i -> acc `shiftL` 8 .|. fromIntegral (BU.unsafeIndex bytes (at + i))) 0 [0 .. 3]

hex32 :: Word32 -> String
hex32 w = "0x" ++ [digits !! fromIntegral ((w `div` (16 ^ k)) `mod` 16) | k <- [7, 6 .. 0 :: Int]]
  where digits = "0123456789abcdef"

-- | IDX3 bytes → float32 [count, 784] scaled to [0, 1].
parseImages :: FilePath -> BS.ByteString -> IO Mat
parseImages name raw = do
  when (BS.length raw < 16) $
    dataError (name ++ ": too short for an IDX image header (" ++ show (BS.length raw) ++ " bytes)")
  let [magic, count, rows', cols'] = map (fromIntegral . be32 raw) [0, 4, 8, 12] :: [Integer]
  when (magic /= toInteger imageMagic) $
    dataError (name ++ ": not an IDX image file (magic " ++ hex32 (fromInteger magic) ++ ", expected " ++ hex32 imageMagic ++ ")")
  when (rows' /= toInteger side || cols' /= toInteger side) $
    dataError (name ++ ": images are " ++ show rows' ++ "x" ++ show cols' ++ ", expected 28x28")
  let payload = toInteger (BS.length raw - 16)
  when (payload /= count * rows' * cols') $
    dataError (name ++ ": header says " ++ show count ++ " images, but holds " ++ show payload
               ++ " pixel bytes (expected " ++ show (count * rows' * cols') ++ ")")
  let n = fromInteger count
  pure $ reshape (side * side) $
    VS.generate (n * side * side) (\i -> fromIntegral (BU.unsafeIndex raw (16 + i)) / 255)

-- | IDX1 bytes → labels, each 0–9.
parseLabels :: FilePath -> BS.ByteString -> IO Labels
parseLabels name raw = do
  when (BS.length raw < 8) $
    dataError (name ++ ": too short for an IDX label header (" ++ show (BS.length raw) ++ " bytes)")
  let magic = be32 raw 0
      count = toInteger (be32 raw 4)
  when (magic /= labelMagic) $
    dataError (name ++ ": not an IDX label file (magic " ++ hex32 magic ++ ", expected " ++ hex32 labelMagic ++ ")")
  when (toInteger (BS.length raw - 8) /= count) $
    dataError (name ++ ": header says " ++ show count ++ " labels, but holds " ++ show (BS.length raw - 8) ++ " bytes")
  let labels = VS.generate (fromInteger count) (fromIntegral . BU.unsafeIndex raw . (8 +))
  unless (VS.null labels || VS.maximum labels <= 9) $
    dataError (name ++ ": label " ++ show (VS.maximum labels) ++ " is out of range 0-9")
  pure labels

-- | An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's first bytes 1f 8b).
readImages :: FilePath -> IO Mat
readImages path = do
  raw <- readBytes path
  parseImages path =<< if "\x1f\x8b" `BS.isPrefixOf` raw then gunzip path raw else pure raw

readSplit :: FilePath -> FilePath -> FilePath -> Int -> IO (Mat, Labels)
readSplit directory imagesFile labelsFile expected = do
  let imagesPath = directory </> imagesFile
      labelsPath = directory </> labelsFile
  images <- parseImages imagesPath =<< readGz imagesPath
  labels <- parseLabels labelsPath =<< readGz labelsPath
  when (rows images /= expected || VS.length labels /= expected) $
    dataError (imagesPath ++ ": holds " ++ show (rows images) ++ " images and " ++ takeFileName labelsPath ++ " "
               ++ show (VS.length labels) ++ " labels, expected " ++ show expected ++ " of each")
  pure (images, labels)

-- | The train / validation / test split of SPEC.md §1, by position.
loadMnist :: FilePath -> String -> Int -> IO Splits
loadMnist dataRoot name limit = do
  let directory = dataRoot </> name
  present <- doesDirectoryExist directory
  unless present $
    dataError ("data directory " ++ directory ++ " not found: run `invoke data`, or point --data-dir / "
               ++ "MNIST_DATA_DIR at the folder that holds " ++ name ++ "/")
  (trainAll, trainAllY) <- readSplit directory "train-images-idx3-ubyte.gz" "train-labels-idx1-ubyte.gz" trainCount
  (test, testLabels) <- readSplit directory "t10k-images-idx3-ubyte.gz" "t10k-labels-idx1-ubyte.gz" testCount
  let split = trainCount - valCount
  pure Splits
    { trainX = takeRows limit trainAll, trainY = VS.take limit trainAllY
    , valX = dropRows split trainAll, valY = VS.drop split trainAllY
    , testX = test, testY = testLabels
    }

-- ---------------------------------------------------------------- model (SPEC.md §2)
-- | One nn.Linear: weight [out, in] (PyTorch's layout), bias [out].
data Layer = Layer {weight :: Mat, bias :: Vec}

-- | The three layers fc1 → ReLU → fc2 → ReLU → fc3. Parameters, momentum buffers and gradients
-- all have this shape, so the optimiser is a zip over it.
data Net a = Net a a a -- fc1, fc2, fc3
  deriving (Functor, Foldable, Traversable)

type Params = Net Layer

zipNet :: (a -> b -> c) -> Net a -> Net b -> Net c
zipNet f (Net a b c) (Net x y z) = Net (f a x) (f b y) (f c z)

-- | Apply one element-wise formula to the weight and to the bias of a layer.
zipLayer :: (forall c. (Linear Float c, Num (c Float)) => c Float -> c Float -> c Float) -> Layer -> Layer -> Layer
zipLayer f (Layer w b) (Layer w' b') = Layer (f w w') (f b b')

layerNames :: Net String
layerNames = Net "fc1" "fc2" "fc3"

-- | (fan_out, fan_in) of each layer.
layerShapes :: Net (Int, Int)
layerShapes = Net (512, 784) (512, 512) (10, 512)

-- | PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)).
initParams :: StdGen -> (Params, StdGen)
initParams gen0 = runStateGen gen0 $ \gen -> forM layerShapes $ \(fanOut, fanIn) -> do
  let bound = 1 / sqrt (fromIntegral fanIn) :: Float
      draw n = VS.replicateM n (uniformRM (-bound, bound) gen)
  w <- draw (fanOut * fanIn)
  b <- draw fanOut
  pure (Layer (reshape fanIn w) b)

-- | a·b by BLAS sgemm, row-major. hmatrix writes a product column-major, so ask it for
-- (a·b)ᵀ = bᵀ·aᵀ and transpose that back: `tr` only swaps strides, and the result is then
-- row-major, which flatten and the element-wise code read without a transposing copy.
matmul :: Mat -> Mat -> Mat
matmul a b = tr (tr b LA.<> tr a)

relu :: Mat -> Mat
relu m = reshape (cols m) (VS.map (max 0) (flatten m)) -- VS.map: ~10x faster than hmatrix's cmap here

-- | x·Wᵀ + b for a batch of rows (the bias row is broadcast over the batch).
linear :: Layer -> Mat -> Mat
linear (Layer w b) x = matmul x (tr w) + asRow b

-- | Logits for a batch, plus the hidden activations that backward needs.
forward :: Params -> Mat -> (Mat, (Mat, Mat))
forward (Net l1 l2 l3) x = (logits, (h1, h2))
  where
    h1 = relu (linear l1 x)
    h2 = relu (linear l2 h1)
    logits = linear l3 h2

-- | Summed loss, number of correct predictions, and the gradient of the batch-mean
-- softmax cross-entropy with respect to the logits (row by row on the flat row-major data).
softmaxCrossEntropy :: Mat -> Labels -> (Double, Int, Mat)
softmaxCrossEntropy logits labels = (total, hits, reshape k grad)
  where
    (n, k) = size logits
    z = flatten logits
    rowOf v i = VS.slice (i * k) k v
    rowMax = VS.generate n (VS.maximum . rowOf z)
    e = VS.imap (\j v -> exp (v - rowMax VS.! (j `div` k))) z -- shifted, so exp() cannot overflow
    sumExp = VS.generate n (VS.sum . rowOf e)
    loss i = log (sumExp VS.! i) - (z VS.! (i * k + labels VS.! i) - rowMax VS.! i)
    total = sum [realToFrac (loss i) | i <- [0 .. n - 1]] :: Double
    hits = length [() | i <- [0 .. n - 1], VS.maxIndex (rowOf z i) == labels VS.! i]
    grad = VS.imap (\j p -> let (i, c) = j `divMod` k
                            in (p / sumExp VS.! i - (if c == labels VS.! i then 1 else 0)) / fromIntegral n) e

-- | Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1: a gradient per parameter.
backward :: Params -> Mat -> (Mat, Mat) -> Mat -> Net Layer
backward (Net _ l2 l3) x (h1, h2) gradLogits = Net (grad gradH1 x) (grad gradH2 h1) (grad gradLogits h2)
  where
    gradH2 = matmul gradLogits (weight l3) * step h2
    gradH1 = matmul gradH2 (weight l2) * step h1
    grad delta input = Layer (matmul (tr delta) input) (konst 1 (rows delta) <# delta)

-- ---------------------------------------------------------------- train step (SPEC.md §3)
-- | Everything an epoch's fold carries; strict fields, so each step is computed as it is taken.
data TrainState = TrainState
  Params -- the parameters
  Params -- their momentum buffers
  Double -- the summed training loss so far
  Int    -- the number of correct predictions so far

-- | One SGD-with-momentum step in PyTorch's form: v = mu*v + g; p = p - lr*v.
trainStep :: Float -> Float -> TrainState -> (Mat, Labels) -> TrainState
trainStep rate mu (TrainState p v total hits) (x, y) = TrainState p' v' (total + loss) (hits + batchHits)
  where
    (logits, hidden) = forward p x
    (loss, batchHits, gradLogits) = softmaxCrossEntropy logits y
    grads = backward p x hidden gradLogits
    v' = zipNet (zipLayer (\buf g -> scale mu buf + g)) v grads
    p' = zipNet (zipLayer (\param buf -> param - scale rate buf)) p v'

-- | A uniformly random permutation of 0..n-1 (Fisher–Yates), and the generator after it.
permutation :: Int -> StdGen -> (VU.Vector Int, StdGen)
permutation n gen0 = runST $ do
  order <- VU.thaw (VU.enumFromN 0 n)
  let go i gen
        | i <= 0 = pure gen
        | otherwise = do
            let (j, gen') = uniformR (0, i) gen
            VUM.swap order i j
            go (i - 1) gen'
  gen <- go (n - 1) gen0
  order' <- VU.unsafeFreeze order
  pure (order', gen)

-- | Consecutive batches of an order of examples; the last, partial batch is kept.
batches :: Int -> VU.Vector Int -> [VU.Vector Int]
batches count order
  | VU.null order = []
  | otherwise = let (batch, rest) = VU.splitAt count order in batch : batches count rest

-- | One pass over the training set: a strict left fold of trainStep over the epoch's batches.
trainEpoch :: Config -> Mat -> Labels -> VU.Vector Int -> TrainState -> TrainState
trainEpoch cfg x y order start = foldl' takeStep start (batches (batchSize cfg) order)
  where
    pixels = flatten x -- row-major storage, so a batch is its rows copied end to end
    width = cols x
    takeStep state batch =
      let indices = VU.toList batch
          batchX = reshape width (VS.concat [VS.slice (i * width) width pixels | i <- indices])
       in trainStep (realToFrac (lr cfg)) (realToFrac (momentum cfg)) state
            (batchX, VS.fromList (map (y VS.!) indices))

-- ---------------------------------------------------------------- evaluate
-- | Mean loss and accuracy over a whole split, in batches of 1000.
evaluate :: Params -> Mat -> Labels -> (Double, Double)
evaluate p x y = (total / fromIntegral n, fromIntegral hits / fromIntegral n)
  where
    n = rows x
    chunks = [(s, min 1000 (n - s)) | s <- [0, 1000 .. n - 1]]
    results = [softmaxCrossEntropy (fst (forward p (subMatrix (s, 0) (k, cols x) x))) (VS.slice s k y) | (s, k) <- chunks]
    total = sum [l | (l, _, _) <- results]
    hits = sum [h | (_, h, _) <- results]

-- | Softmax probabilities of each image's ten classes (--predict), one row per image.
predict :: Params -> Mat -> Mat
predict p x
  | rows x == 0 = konst 0 (0, 10) -- an empty file: hmatrix cannot broadcast a bias over zero rows
  | otherwise = e / asColumn (e #> konst 1 (cols e))
  where
    logits = fst (forward p x)
    e = exp (logits - asColumn (VS.fromList (map maxElement (toRows logits)))) -- shifted, so exp cannot overflow

-- ---------------------------------------------------------------- weights file (SPEC.md §5)
tensorShapes :: [(String, [Int])]
tensorShapes = concat [[(name ++ ".weight", [o, i]), (name ++ ".bias", [o])] | (name, (o, i)) <- zip (toList' layerNames) (toList' layerShapes)]
  where toList' = foldr (:) []

dtypeSizes :: [(String, Int)]
dtypeSizes = [("BOOL", 1), ("U8", 1), ("I8", 1), ("F8_E5M2", 1), ("F8_E4M3", 1), ("I16", 2), ("U16", 2), ("F16", 2), ("BF16", 2),
              ("I32", 4), ("U32", 4), ("F32", 4), ("I64", 8), ("U64", 8), ("F64", 8)]

data Entry = Entry {dtype :: String, shape :: [Int], begin :: Int, end :: Int}

-- | Read and check a safetensors file: exactly the six F32 tensors of the contract's shapes.
loadWeights :: FilePath -> IO Params
loadWeights path = do
  isFile <- doesFileExist path
  unless isFile $ dataError (path ++ ": weights file not found")
  bytes <- BS.readFile path `catch` \(e :: IOException) -> dataError (path ++ ": cannot read (" ++ oneLine (show e) ++ ")")
  let bad reason = dataError (path ++ ": not a safetensors file (" ++ reason ++ ")")
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
    case Aeson.fromJSON value of
      Aeson.Success (Aeson.Object o)
        | Just (Aeson.String dt) <- KeyMap.lookup "dtype" o
        , Aeson.Success (dims :: [Int]) <- maybe (Aeson.Error "") Aeson.fromJSON (KeyMap.lookup "shape" o)
        , Aeson.Success [b, e] <- maybe (Aeson.Error "") Aeson.fromJSON (KeyMap.lookup "data_offsets" o) :: Aeson.Result [Int]
        , all (>= 0) dims ->
            case lookup (show' dt) dtypeSizes of
              _ | b < 0 || b > e || e > BS.length buffer -> bad ("tensor " ++ name ++ ": data_offsets outside the data")
              Nothing -> bad ("tensor " ++ name ++ " has unknown dtype " ++ show' dt)
              Just bytesPer
                | e - b /= bytesPer * product dims -> bad ("tensor " ++ name ++ ": data_offsets do not match its shape and dtype")
                | otherwise -> pure (name, Entry (show' dt) dims b e)
      _ -> bad ("tensor " ++ name ++ ": malformed entry")
  -- the tensors must tile the data buffer exactly, as the safetensors format requires
  let spans = sortOn fst [(begin e, end e) | (_, e) <- entries]
  unless (and (zipWith (\(_, e) (b, _) -> e == b) spans (drop 1 spans)) && map fst (take 1 spans) `elem` [[0], []]
          && (if null spans then BS.null buffer else snd (last spans) == BS.length buffer)) $
    bad "tensors do not cover the data buffer exactly"
  let names = map fst entries
  forM_ tensorShapes $ \(name, _) -> unless (name `elem` names) $ dataError (path ++ ": weights file lacks tensor " ++ name)
  forM_ (sortOn id names) $ \name -> unless (name `elem` map fst tensorShapes) $
    dataError (path ++ ": weights file has unexpected tensor " ++ name)
  tensors <- forM tensorShapes $ \(name, wanted) -> do
    let Just entry = lookup name entries
    when (dtype entry /= "F32") $ dataError (path ++ ": tensor " ++ name ++ " is " ++ dtype entry ++ ", expected F32")
    when (shape entry /= wanted) $
      dataError (path ++ ": tensor " ++ name ++ " has shape " ++ showList' (shape entry) ++ ", expected " ++ showList' wanted)
    pure (VS.generate (product wanted) (\i -> castWord32ToFloat (le32 buffer (begin entry + 4 * i))))
  case tensors of
    [w1, b1, w2, b2, w3, b3] ->
      pure (Net (Layer (reshape 784 w1) b1) (Layer (reshape 512 w2) b2) (Layer (reshape 512 w3) b3))
    _ -> bad "internal: wrong tensor count"
  where
    show' = filter (/= '"') . show
    showList' xs = "[" ++ intercalate ", " (map show xs) ++ "]"
    le32 bytes at = foldr (\i acc -> acc `shiftL` 8 .|. fromIntegral (BU.unsafeIndex bytes (at + i))) 0 [0 .. 3] :: Word32

-- | Write the six tensors as float32 safetensors (header padded with spaces to 8 bytes).
saveWeights :: FilePath -> Params -> IO ()
saveWeights path p = do
  let tensors = concat [[flatten (weight l), bias l] | l <- foldr (:) [] p]
      sizes = map ((* 4) . VS.length) tensors
      offsets = scanl (+) 0 sizes
      entry (name, dims) b e =
        "\"" ++ name ++ "\":{\"dtype\":\"F32\",\"shape\":" ++ "[" ++ intercalate "," (map show dims) ++ "]"
          ++ ",\"data_offsets\":[" ++ show b ++ "," ++ show e ++ "]}"
      json = "{" ++ intercalate "," (zipWith3 entry tensorShapes offsets (drop 1 offsets)) ++ "}"
      padded = json ++ replicate ((8 - length json `mod` 8) `mod` 8) ' '
      builder = BB.word64LE (fromIntegral (length padded)) <> BB.string7 padded
        <> foldMap (VS.foldr (\x acc -> BB.word32LE (castFloatToWord32 x) <> acc) mempty) tensors
  BL.writeFile path (BB.toLazyByteString builder) `catch` \(e :: IOException) ->
    dataError (path ++ ": cannot write weights (" ++ oneLine (show e) ++ ")")

-- ---------------------------------------------------------------- flags (SPEC.md §4)
data Config = Config
  { dataset :: String
  , dataDir :: Maybe FilePath
  , epochs :: Int
  , batchSize :: Int
  , lr :: Double
  , momentum :: Double
  , seed :: Integer
  , limitTrain :: Int
  , shuffle :: Bool
  , initFile :: Maybe FilePath
  , loadFile :: Maybe FilePath
  , saveFile :: Maybe FilePath
  , predictFile :: Maybe FilePath
  }

-- | An integer in [low, high] written as plain decimal digits (with an optional sign).
intIn :: String -> Integer -> Maybe Integer -> O.ReadM Integer
intIn name low high = O.eitherReader $ \text ->
  let body = case text of ('+' : r) -> r; ('-' : r) -> r; r -> r
      value = read (filter (/= '+') text) :: Integer
      wanted = maybe (">= " ++ show low) (\h -> "in " ++ show low ++ ".." ++ show h) high
   in if not (null body) && all isDigit body && value >= low && maybe True (value <=) high
        then Right value
        else Left (name ++ " must be an integer " ++ wanted ++ ", got " ++ text)

-- | A finite number in the usual decimal forms (0.05, .5, 5., 5e-2), satisfying check.
numberIn :: String -> (Double -> Bool) -> String -> O.ReadM Double
numberIn name check wanted = O.eitherReader $ \text ->
  case parseDecimal text of
    Just value | check value -> Right value
    _ -> Left (name ++ " must be " ++ wanted ++ ", got " ++ text)

parseDecimal :: String -> Maybe Double
parseDecimal text = do
  let (sign, rest) = case text of ('-' : r) -> ("-", r); ('+' : r) -> ("", r); r -> ("", r)
      (whole, rest1) = span isDigit rest
      (frac, rest2) = case rest1 of ('.' : r) -> span isDigit r; r -> ("", r)
  exponent' <- case rest2 of
    "" -> Just "0"
    (e : r) | e `elem` ("eE" :: String) -> case r of
      ('-' : ds) | digits ds -> Just ('-' : ds)
      ('+' : ds) | digits ds -> Just ds
      ds | digits ds -> Just ds
      _ -> Nothing
    _ -> Nothing
  when (null whole && null frac) Nothing
  let value = read (sign ++ orZero whole ++ "." ++ orZero frac ++ "e" ++ exponent') :: Double
  if isNaN value || isInfinite value then Nothing else Just value
  where
    digits ds = not (null ds) && all isDigit ds
    orZero ds = if null ds then "0" else ds

choice :: String -> [String] -> O.ReadM String
choice name allowed = O.eitherReader $ \text ->
  if text `elem` allowed then Right text
  else Left (name ++ " must be one of " ++ intercalate ", " allowed ++ ", got " ++ text)

configParser :: O.Parser Config
configParser = Config
  <$> O.option (choice "--dataset" ["mnist", "fashion-mnist"])
        (O.long "dataset" <> O.metavar "mnist|fashion-mnist" <> O.value "mnist" <> O.help "which dataset to train on (default: mnist)")
  <*> O.optional (O.strOption (O.long "data-dir" <> O.metavar "DIR"
        <> O.help "data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)"))
  <*> (fromInteger <$> O.option (intIn "--epochs" 0 Nothing)
        (O.long "epochs" <> O.metavar "N" <> O.value 5 <> O.help "passes over the training set; 0 only evaluates (default: 5)"))
  <*> (fromInteger <$> O.option (intIn "--batch-size" 1 Nothing)
        (O.long "batch-size" <> O.metavar "N" <> O.value 128 <> O.help "examples per SGD step (default: 128)"))
  <*> O.option (numberIn "--lr" (> 0) "a number > 0")
        (O.long "lr" <> O.metavar "X" <> O.value 0.05 <> O.help "learning rate (default: 0.05)")
  <*> O.option (numberIn "--momentum" (\m -> 0 <= m && m < 1) "a number in [0, 1)")
        (O.long "momentum" <> O.metavar "X" <> O.value 0.9 <> O.help "SGD momentum (default: 0.9)")
  <*> O.option (intIn "--seed" 0 (Just 4294967295))
        (O.long "seed" <> O.metavar "N" <> O.value 0 <> O.help "seeds initialisation and shuffling (default: 0)")
  <*> (fromInteger <$> O.option (intIn "--limit-train" 1 (Just 50000))
        (O.long "limit-train" <> O.metavar "N" <> O.value 50000 <> O.help "train on the first N training examples only (default: all 50000)"))
  <*> (not <$> O.switch (O.long "no-shuffle" <> O.help "keep the training examples in file order every epoch"))
  <*> O.optional (O.strOption (O.long "init" <> O.metavar "FILE" <> O.help "start from these safetensors weights instead of random ones"))
  <*> O.optional (O.strOption (O.long "load" <> O.metavar "FILE" <> O.help "same as --init; with --epochs 0 only evaluates"))
  <*> O.optional (O.strOption (O.long "save" <> O.metavar "FILE" <> O.help "write the trained weights to this safetensors file"))
  <*> O.optional (O.strOption (O.long "predict" <> O.metavar "IDX_FILE"
        <> O.help "classify the images of this IDX file (.gz or plain) with the --load weights instead of training"))

-- | Parse the flags; a usage error is one line (optparse's first line), --help goes to stdout.
parseConfig :: [String] -> IO Config
parseConfig argv = do
  let info = O.info (O.helper <*> configParser)
        (O.fullDesc <> O.progDesc "Train the SPEC.md MLP on MNIST with hmatrix and hand-written backprop.")
      prefs = O.defaultPrefs
  cfg <- case O.execParserPure prefs info argv of
    O.Success cfg -> pure cfg
    O.Failure failure -> case O.renderFailure failure "mnist-haskell" of
      (text, ExitSuccess) -> putStrLn text >> exitSuccess
      (text, _) -> usageError (cleanOptparse (firstLine text) ++ " (see --help)")
    O.CompletionInvoked _ -> usageError "shell completion is not supported"
  case (initFile cfg, loadFile cfg) of
    (Just _, Just _) -> usageError "--init and --load are the same option; give only one"
    _ -> pure ()
  when (predictFile cfg /= Nothing && loadFile cfg == Nothing) $
    usageError "--predict needs the weights to classify with: add --load FILE"
  forM_ (saveFile cfg) $ \path -> do
    let parent = takeDirectory path
    ok <- doesDirectoryExist parent
    unless ok $ usageError ("--save: directory " ++ parent ++ " does not exist")
  pure cfg
  where
    firstLine text = case filter (not . null) (lines text) of (l : _) -> l; [] -> "bad arguments"
    -- optparse writes "option --lr: --lr must be ..."; our messages already name the flag
    cleanOptparse line = case break (== ':') line of
      ('o' : 'p' : 't' : 'i' : 'o' : 'n' : ' ' : _, ':' : ' ' : msg@('-' : '-' : _)) -> msg
      _ -> line

-- ---------------------------------------------------------------- log lines (SPEC.md §6)
emit :: String -> [(String, String)] -> IO ()
emit event fields = putStrLn (unwords (("event=" ++ event) : [k ++ "=" ++ v | (k, v) <- fields]))

fixed :: Int -> Double -> String
fixed decimals x
  | isNaN x = "nan"
  | isInfinite x = if x > 0 then "inf" else "-inf"
  | otherwise =
      let scaled = round (abs x * 10 ^ decimals) :: Integer
          (whole, frac) = scaled `divMod` (10 ^ decimals)
          fracText = show frac
       in (if x < 0 && scaled /= 0 then "-" else "") ++ show whole ++ "." ++ replicate (decimals - length fracText) '0' ++ fracText

-- | A float as Python's repr writes it (0.05, 0.9, 1e-05), so every row's config line reads the same.
pyRepr :: Double -> String
pyRepr 0 = "0.0"
pyRepr x
  | x < 0 = '-' : pyRepr (negate x)
  | e10 < -4 || e10 >= 16 = mantissa ++ "e" ++ (if e10 < 0 then "-" else "+") ++ pad2 (show (abs e10))
  | e10 < 0 = "0." ++ replicate (negate e10 - 1) '0' ++ ds
  | length ds <= e10 + 1 = ds ++ replicate (e10 + 1 - length ds) '0' ++ ".0"
  | otherwise = take (e10 + 1) ds ++ "." ++ drop (e10 + 1) ds
  where
    (digitList, e) = floatToDigits 10 x
    ds = concatMap show digitList
    e10 = e - 1
    mantissa = take 1 ds ++ (if length ds > 1 then "." ++ drop 1 ds else "")
    pad2 s = if length s < 2 then '0' : s else s

-- | The most probable digit, the lowest on a tie.
bestClass :: Vec -> Int
bestClass p = VS.length (VS.takeWhile (< VS.maximum p) p)

flag :: Bool -> String
flag b = if b then "1" else "0"

-- ---------------------------------------------------------------- main
oneLine :: String -> String
oneLine = unwords . lines

elapsedSince :: Double -> IO String
elapsedSince started = fixed 3 . subtract started <$> getMonotonicTime

run :: [String] -> IO ()
run argv = do
  cfg <- parseConfig argv
  envDir <- lookupEnv "MNIST_DATA_DIR"
  let dataRoot = case (dataDir cfg, envDir) of
        (Just dir, _) -> dir
        (Nothing, Just dir) | not (null dir) -> dir
        _ -> "data"
      initPath = maybe (loadFile cfg) Just (initFile cfg)
  emit "start" [ ("row", "haskell"), ("language", "haskell/ghc-" ++ ghcVersion)
               , ("framework", "hmatrix/" ++ VERSION_hmatrix), ("device", "cpu") ]
  case (predictFile cfg, loadFile cfg) of
    (Just images, Just weightsFile) -> do
      params <- loadWeights weightsFile
      probabilities <- predict params <$> readImages images
      forM_ (zip [0 :: Int ..] (toRows probabilities)) $ \(index, p) ->
        emit "predict" $ ("index", show index) : ("class", show (bestClass p))
          : [("p" ++ show d, fixed 6 (realToFrac v)) | (d, v) <- zip [0 :: Int ..] (VS.toList p)]
      exitSuccess
    _ -> pure ()
  emit "config" [ ("dataset", dataset cfg), ("epochs", show (epochs cfg)), ("batch_size", show (batchSize cfg))
                , ("lr", pyRepr (lr cfg)), ("momentum", pyRepr (momentum cfg)), ("seed", show (seed cfg))
                , ("limit_train", show (limitTrain cfg)), ("shuffle", flag (shuffle cfg)), ("init", flag (initPath /= Nothing)) ]

  started <- getMonotonicTime
  splits <- loadMnist dataRoot (dataset cfg) (limitTrain cfg)
  mapM_ (E.evaluate . cols) [trainX splits, valX splits, testX splits] -- decode now, inside the timing
  mapM_ (E.evaluate . VS.length) [trainY splits, valY splits, testY splits]
  loadSeconds <- elapsedSince started
  emit "data" [ ("train", show (rows (trainX splits))), ("val", show (rows (valX splits)))
              , ("test", show (rows (testX splits))), ("seconds", loadSeconds) ]

  let gen0 = mkStdGen (fromInteger (seed cfg))
  (params0, gen1) <- case initPath of
    Just path -> (\p -> (p, gen0)) <$> loadWeights path
    Nothing -> pure (initParams gen0)
  let zeros = fmap (\(Layer w b) -> Layer (konst 0 (size w)) (konst 0 (size b))) params0
      n = rows (trainX splits)

  let epochLoop epoch params' velocity' gen
        | epoch > epochs cfg = pure params'
        | otherwise = do
            let (order, gen') = if shuffle cfg then permutation n gen else (VU.enumFromN 0 n, gen)
            t0 <- getMonotonicTime
            TrainState p v total hits <-
              E.evaluate (trainEpoch cfg (trainX splits) (trainY splits) order (TrainState params' velocity' 0 0))
            seconds <- elapsedSince t0
            let trainLoss = total / fromIntegral n
            when (isNaN trainLoss || isInfinite trainLoss) $
              throwIO (Diverged ("training diverged in epoch " ++ show epoch ++ ": the training loss is "
                                 ++ fixed 6 trainLoss ++ "; try a smaller --lr"))
            let (valLoss, valAcc) = evaluate p (valX splits) (valY splits)
            emit "epoch" [ ("epoch", show epoch), ("train_loss", fixed 6 trainLoss)
                         , ("train_acc", fixed 6 (fromIntegral hits / fromIntegral n))
                         , ("val_loss", fixed 6 valLoss), ("val_acc", fixed 6 valAcc), ("seconds", seconds) ]
            epochLoop (epoch + 1) p v gen'
  trained <- epochLoop (1 :: Int) params0 zeros gen1

  t0 <- getMonotonicTime
  let (testLoss, testAcc) = evaluate trained (testX splits) (testY splits)
  _ <- E.evaluate (testLoss + testAcc)
  testSeconds <- elapsedSince t0
  emit "test" [("test_loss", fixed 6 testLoss), ("test_acc", fixed 6 testAcc), ("seconds", testSeconds)]
  forM_ (saveFile cfg) (`saveWeights` trained)

ghcVersion :: String
ghcVersion = show (__GLASGOW_HASKELL__ `div` 100 :: Int) ++ "." ++ show (__GLASGOW_HASKELL__ `mod` 100 :: Int)
  ++ "." ++ show (__GLASGOW_HASKELL_PATCHLEVEL1__ :: Int)

-- | Every failure ends as one `error: ...` line on stderr and the contract's exit status.
main :: IO ()
main = do
  hSetBuffering stdout LineBuffering
  argv <- getArgs
  run argv `catches`
    [ Handler (\(e :: ExitCode) -> throwIO e)
    , Handler (\(e :: Failure) -> case e of
        UsageError msg -> failWith 2 msg
        DataError msg -> failWith 2 msg
        Diverged msg -> failWith 3 msg)
    , Handler (\(e :: AsyncException) -> case e of
        UserInterrupt -> failWith 130 "interrupted"
        _ -> failWith 1 ("internal error: " ++ oneLine (show e)))
    , Handler (\(e :: SomeException) -> failWith 1 ("internal error: " ++ oneLine (displayException e)))
    ]
  where
    failWith code msg = do
      hFlush stdout
      hPutStrLn stderr ("error: " ++ msg)
      exitWith (if code == 0 then ExitSuccess else ExitFailure code)
