{-# LANGUAGE ScopedTypeVariables #-}
-- | Exit statuses and error lines (SPEC.md §7): a user's mistake is one @error: ...@ line on
-- stderr and exit status 2, a diverged training run exit status 3, anything else exit status 1.
module Mnist.Contract.Errors
  ( Failure (..)
  , usageError
  , dataError
  , checkFinite
  , runMain
  , failureStatus
  ) where

import Control.Exception
import Mnist.Contract.Format (fixed, oneLine)
import System.Exit
import System.IO

-- | What the contract's functions throw; 'runMain' turns it into the error line and exit status.
data Failure
  = UsageError String -- ^ a bad flag (exit 2)
  | DataError String -- ^ a missing or malformed data, weights or image file (exit 2)
  | Diverged String -- ^ a non-finite training loss (exit 3)
  deriving (Eq, Show)

instance Exception Failure

usageError, dataError :: String -> IO a
usageError = throwIO . UsageError
dataError = throwIO . DataError

-- | Stop with exit status 3 when an epoch's training loss is not finite (SPEC.md §3).
checkFinite :: Int -> Double -> IO ()
checkFinite epoch loss
  | isNaN loss || isInfinite loss =
      throwIO (Diverged ("training diverged in epoch " ++ show epoch ++ ": the training loss is "
                         ++ fixed 6 loss ++ "; try a smaller --lr"))
  | otherwise = pure ()

-- | The message and exit status of a failure.
failureStatus :: Failure -> (Int, String)
failureStatus (UsageError msg) = (2, msg)
failureStatus (DataError msg) = (2, msg)
failureStatus (Diverged msg) = (3, msg)

-- | Run a row's main: stdout line-buffered (every log line is flushed as it is printed), and
-- every failure ends as one @error: ...@ line on stderr with the contract's exit status,
-- never a GHC exception trace.
runMain :: IO () -> IO ()
runMain body = do
  hSetBuffering stdout LineBuffering
  body `catches`
    [ Handler (\(e :: ExitCode) -> throwIO e)
    , Handler (\(e :: Failure) -> uncurry failWith (failureStatus e))
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
