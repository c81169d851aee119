-- | The epoch's batches (SPEC.md §3): a fresh random order of the training examples each epoch
-- (Fisher–Yates with the row's 'StdGen'), or file order with --no-shuffle, cut into consecutive
-- slices of --batch-size; the last, partial batch is kept.
module Mnist.Contract.Batches
  ( epochBatches
  , permutation
  , batches
  ) where

import Control.Monad.ST (runST)
import Mnist.Contract.Cli (Config (..))
import qualified Data.Vector.Unboxed as VU
import qualified Data.Vector.Unboxed.Mutable as VUM
import System.Random (StdGen, uniformR)

-- | The batches of one epoch over n examples (indices into the training set), and the
-- generator after drawing their order.
epochBatches :: Config -> Int -> StdGen -> ([VU.Vector Int], StdGen)
epochBatches cfg n gen = (batches (batchSize cfg) order, gen')
  where (order, gen') = if shuffle cfg then permutation n gen else (VU.enumFromN 0 n, gen)

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

-- | Consecutive slices of count examples of an order; the last, partial one is kept.
batches :: Int -> VU.Vector Int -> [VU.Vector Int]
batches count order
  | VU.null order = []
  | otherwise = let (batch, rest) = VU.splitAt count order in batch : batches count rest
