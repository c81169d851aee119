-- | Progress lines on stderr for a person watching (SPEC.md §6, "Progress (stderr)"):
-- logfmt lines that start @event=progress stage=...@. A @train@ line is printed only when at
-- least 0.25 s have passed since the previous progress line, so a row calls 'progressTrain'
-- after every batch and pays one clock reading for it.
--
-- The functions without a prime use one process-wide 'Progress' (the rate limit is "since the
-- row's previous progress line"); the primed ones take a 'Progress' of their own (tests).
module Mnist.Contract.Progress
  ( progressStart
  , progressData
  , progressWarmup
  , progressTrain
  , Progress
  , newProgress
  , globalProgress
  , progressStart'
  , progressData'
  , progressWarmup'
  , progressTrain'
  , minInterval
  ) where

import Data.IORef
import GHC.Clock (getMonotonicTime)
import Mnist.Contract.Format (fixed)
import System.IO
import System.IO.Unsafe (unsafePerformIO)

-- | Where progress lines go, the clock that rate-limits them, and when the last one was printed.
data Progress = Progress
  { clock :: IO Double
  , sink :: String -> IO ()
  , lastLine :: IORef (Maybe Double)
  }

-- | The shortest time between a progress line and a following @train@ line, in seconds.
minInterval :: Double
minInterval = 0.25

newProgress :: IO Double -> (String -> IO ()) -> IO Progress
newProgress now out = Progress now out <$> newIORef Nothing

-- | Stderr and the monotonic clock, shared by the whole process.
globalProgress :: Progress
globalProgress = unsafePerformIO (newProgress getMonotonicTime (\l -> hPutStrLn stderr l >> hFlush stderr))
{-# NOINLINE globalProgress #-}

emit :: Progress -> [(String, String)] -> IO ()
emit p fields = clock p >>= \t -> emitAt p t fields

emitAt :: Progress -> Double -> [(String, String)] -> IO ()
emitAt p t fields = do
  writeIORef (lastLine p) (Just t)
  sink p (unwords ("event=progress" : [k ++ "=" ++ v | (k, v) <- fields]))

-- | Once, as soon as the flags are parsed: @stage=start row=<row>@.
progressStart :: String -> IO ()
progressStart = progressStart' globalProgress

-- | Once, before the data files are read: @stage=data dataset=<dataset>@.
progressData :: String -> IO ()
progressData = progressData' globalProgress

-- | Once, before compilation or tracing (rows that print a @warmup@ log line).
progressWarmup :: IO ()
progressWarmup = progressWarmup' globalProgress

-- | After a training batch: epoch (from 1), epochs, batch (batches done in this epoch, from 1),
-- batches (in the epoch) and the mean training loss over the epoch's examples so far.
-- Printed only when 'minInterval' has passed since the previous progress line; the loss is
-- not evaluated otherwise (pass it lazily and it costs nothing).
progressTrain :: Int -> Int -> Int -> Int -> Double -> IO ()
progressTrain = progressTrain' globalProgress

progressStart' :: Progress -> String -> IO ()
progressStart' p row = emit p [("stage", "start"), ("row", row)]

progressData' :: Progress -> String -> IO ()
progressData' p name = emit p [("stage", "data"), ("dataset", name)]

progressWarmup' :: Progress -> IO ()
progressWarmup' p = emit p [("stage", "warmup")]

progressTrain' :: Progress -> Int -> Int -> Int -> Int -> Double -> IO ()
progressTrain' p epoch epochs batch batches loss = do
  t <- clock p
  previous <- readIORef (lastLine p)
  case previous of
    Just before | t - before < minInterval -> pure ()
    _ -> emitAt p t [ ("stage", "train"), ("epoch", show epoch), ("epochs", show epochs)
                    , ("batch", show batch), ("batches", show batches), ("loss", fixed 6 loss) ]
