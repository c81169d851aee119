{-# LANGUAGE BangPatterns, CPP, DeriveTraversable, FlexibleContexts, StrictData #-}
-- | MNIST in Haskell with hmatrix: the SPEC.md MLP, hand-written backprop, SGD with momentum.
--
-- The network is data (three layers of hmatrix matrices and vectors), forward and backward
-- are pure functions, and an epoch is a strict fold over its batches carrying the parameters,
-- the momentum buffers and the running loss/accuracy. Matrix products go to BLAS (sgemm).
-- Flags, files, log lines and errors come from the contract library (common/haskell).
-- Build and run from the repository root (see README.md):
--
-- > sh haskell/build.sh && haskell/run.sh --epochs 1
module Main (main) where

import qualified Control.Exception as E
import Control.Monad (foldM, forM, forM_)
import Control.Monad.ST (runST)
import qualified Data.Map.Strict as Map
import qualified Data.Vector.Storable as VS
import qualified Data.Vector.Storable.Mutable as VSM
import qualified Data.Vector.Unboxed as VU
import GHC.Clock (getMonotonicTime)
import Mnist.Contract
import Numeric.LinearAlgebra hiding (Vector, (<>))
import qualified Numeric.LinearAlgebra as LA
import System.Random (StdGen, mkStdGen)
import System.Random.Stateful (runStateGen, uniformRM)

type Vec = LA.Vector Float
type Mat = Matrix Float

-- ---------------------------------------------------------------- data
-- Mnist.Contract.loadMnist reads, checks and splits the IDX files (SPEC.md §1); images become a matrix, a row each.
toMatrix :: Images -> Mat
toMatrix images = reshape 784 (pixels images)

-- ---------------------------------------------------------------- model (SPEC.md §2)
-- | One nn.Linear: weight [out, in] (PyTorch's layout), bias [out].
data Layer = Layer {weight :: Mat, bias :: Vec}

-- | fc1 → ReLU → fc2 → ReLU → fc3. Parameters, momentum buffers and gradients all have this shape.
data Net a = Net a a a -- fc1, fc2, fc3
  deriving (Functor, Foldable, Traversable)

type Params = Net Layer

zipNet :: (a -> b -> c) -> Net a -> Net b -> Net c
zipNet f (Net a b c) (Net x y z) = Net (f a x) (f b y) (f c z)

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
  Layer . reshape fanIn <$> draw (fanOut * fanIn) <*> draw fanOut -- the weight's values first, then the bias's

-- | The weights file's tensors (flat, row-major) as layers, and back.
fromTensors :: Tensors -> Params
fromTensors t = zipNet (\name (_, fanIn) -> Layer (reshape fanIn (t Map.! (name ++ ".weight"))) (t Map.! (name ++ ".bias")))
  layerNames layerShapes

toTensors :: Params -> Tensors
toTensors p = Map.fromList (concat (zipNet (\name l -> [(name ++ ".weight", flatten (weight l)), (name ++ ".bias", bias l)]) layerNames p))

-- | a·b by BLAS sgemm, row-major. hmatrix writes a product column-major, so ask it for (a·b)ᵀ = bᵀ·aᵀ and
-- transpose that back: `tr` only swaps strides, and flatten then reads the result without a transposing copy.
matmul :: Mat -> Mat -> Mat
matmul a b = tr (tr b LA.<> tr a)

-- | max 0 x as (x + |x|) / 2: no jump for the CPU to mispredict on half the units (`max 0` had one).
relu :: Mat -> Mat
relu m = reshape (cols m) (VS.map (\x -> (x + abs x) * 0.5) (flatten m)) -- VS.map: ~10x faster than cmap

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
data TrainState = TrainState Params Params Double Int -- parameters, momentum buffers, summed loss, correct count

-- | SGD with momentum (PyTorch's form: v' = mu*v + g; p' = p - lr*v') on flat arrays: one loop in ST writing two
-- new arrays (still a pure function), not hmatrix's scale, +, scale, -: four passes, four arrays. `v!i * mu`, not
-- `mu * v!i`: GHC 9.0 then needs no register copy that chains the iterations (2x faster).
momentumStep :: Float -> Float -> Vec -> Vec -> Vec -> (Vec, Vec)
momentumStep rate mu p v g = runST $ do
  p' <- VSM.unsafeNew (VS.length p) -- uninitialised: every element is written below
  v' <- VSM.unsafeNew (VS.length v)
  forM_ [0 .. VS.length p - 1] $ \i -> do
    let vi = v VS.! i * mu + g VS.! i
    VSM.write v' i vi
    VSM.write p' i (p VS.! i - vi * rate)
  (,) <$> VS.unsafeFreeze p' <*> VS.unsafeFreeze v' -- no copy: p', v' are not written again

-- | One training step: forward, loss, backward, then momentumStep on every weight and bias.
trainStep :: Float -> Float -> TrainState -> (Mat, Labels) -> TrainState
trainStep rate mu (TrainState p v total hits) (x, y) = TrainState p' v' (total + loss) (hits + batchHits)
  where
    (logits, hidden) = forward p x
    (loss, batchHits, gradLogits) = softmaxCrossEntropy logits y
    grads = backward p x hidden gradLogits
    new = zipNet ($) (zipNet update p v) grads -- per layer: (new layer, its new velocity)
    (p', v') = (fmap fst new, fmap snd new)
    update (Layer w b) (Layer vw vb) (Layer gw gb) = (Layer (reshape (cols w) w') b', Layer (reshape (cols w) vw') vb')
      where -- a weight matrix as its flat row-major storage, and back
        (w', vw') = momentumStep rate mu (flatten w) (flatten vw) (flatten gw)
        (b', vb') = momentumStep rate mu b vb gb

-- | trainStep over the epoch's batches, each forced before the next, then a progress line (at most four a second).
trainEpoch :: Config -> Int -> [VU.Vector Int] -> Mat -> Labels -> TrainState -> IO TrainState
trainEpoch cfg epoch batchList x y start = foldM takeStep start (zip [1 ..] batchList)
  where
    flat = flatten x -- row-major storage, so a batch is its rows copied end to end
    width = cols x
    batchCount = length batchList
    takeStep state (k, batch) = do
      let indices = VU.toList batch
          batchX = reshape width (VS.concat [VS.slice (i * width) width flat | i <- indices])
          !state'@(TrainState _ _ total _) = trainStep (realToFrac (lr cfg)) (realToFrac (momentum cfg)) state
            (batchX, VS.fromList (map (y VS.!) indices))
          seen = min (k * batchSize cfg) (rows x)
      progressTrain epoch (epochs cfg) k batchCount (total / fromIntegral seen) -- loss computed only if printed
      pure state'

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

-- ---------------------------------------------------------------- main
main :: IO ()
main = runMain $ do
  cfg <- parseConfig "haskell" "Train the SPEC.md MLP on MNIST with hmatrix and hand-written backprop."
  logStart "haskell" ("hmatrix/" ++ VERSION_hmatrix) "cpu"
  case (predictFile cfg, initFile cfg) of
    (Just images, Just weightsFile) -> do
      params <- fromTensors <$> loadWeights weightsFile
      probabilities <- predict params . toMatrix <$> readImages images
      forM_ (zip [0 ..] (toRows probabilities)) $ \(index, p) -> logPredict index (VS.toList p)
    _ -> train cfg

train :: Config -> IO ()
train cfg = do
  logConfig cfg
  (splits, seconds) <- loadMnist cfg
  logData splits seconds
  let Splits trainImages trainLabels valImages valLabels testImages testLabels = fmap toMatrix splits
      n = rows trainImages
      gen0 = mkStdGen (seed cfg)
  (params0, gen1) <- case initFile cfg of
    Just path -> (\t -> (fromTensors t, gen0)) <$> loadWeights path
    Nothing -> pure (initParams gen0)
  let zeros = fmap (\(Layer w b) -> Layer (konst 0 (size w)) (konst 0 (size b))) params0

  let epochLoop epoch params velocity gen
        | epoch > epochs cfg = pure params
        | otherwise = do
            let (batchList, gen') = epochBatches cfg n gen
            started <- getMonotonicTime
            TrainState p v total hits <- trainEpoch cfg epoch batchList trainImages trainLabels (TrainState params velocity 0 0)
            finished <- getMonotonicTime
            let trainLoss = total / fromIntegral n
            checkFinite epoch trainLoss
            let (valLoss, valAcc) = evaluate p valImages valLabels
            logEpoch epoch trainLoss (fromIntegral hits / fromIntegral n) valLoss valAcc (finished - started)
            epochLoop (epoch + 1) p v gen'
  trained <- epochLoop 1 params0 zeros gen1

  started <- getMonotonicTime
  let (testLoss, testAcc) = evaluate trained testImages testLabels
  _ <- E.evaluate (testLoss + testAcc) -- compute it now, inside the timing
  finished <- getMonotonicTime
  logTest testLoss testAcc (finished - started)
  forM_ (saveFile cfg) (\path -> saveWeights path (toTensors trained))
