-- | The contract's flags (SPEC.md §4), parsed with optparse-applicative and checked against
-- their ranges. A usage error is one line ('UsageError'); @--help@ prints usage to stdout.
module Mnist.Contract.Cli
  ( Config (..)
  , parseConfig
  , parseArgs
  , parseDecimal
  ) where

import Control.Monad (forM_, unless, when)
import Data.Char (isDigit)
import Data.List (intercalate)
import Mnist.Contract.Errors (usageError)
import Mnist.Contract.Progress (progressStart)
import qualified Options.Applicative as O
import System.Directory (doesDirectoryExist)
import System.Environment (getArgs, getProgName, lookupEnv)
import System.Exit (ExitCode (..), exitSuccess)
import System.FilePath (takeDirectory)

-- | The parsed flags. @--load@ is merged into 'initFile' (they are the same option).
data Config = Config
  { dataset :: String -- ^ mnist or fashion-mnist
  , dataDir :: FilePath -- ^ the data root: --data-dir, else $MNIST_DATA_DIR, else data
  , epochs :: Int
  , batchSize :: Int
  , lr :: Double
  , momentum :: Double
  , seed :: Int -- ^ 0 … 4294967295
  , limitTrain :: Int -- ^ training examples used (50000 without the flag)
  , shuffle :: Bool -- ^ False with --no-shuffle
  , initFile :: Maybe FilePath -- ^ --init or --load
  , saveFile :: Maybe FilePath
  , predictFile :: Maybe FilePath
  } deriving (Eq, Show)

-- | What optparse parses; 'parseArgs' checks the combinations and resolves the data root.
data Flags = Flags
  { fDataset :: String, fDataDir :: Maybe FilePath, fEpochs :: Integer, fBatchSize :: Integer
  , fLr :: Double, fMomentum :: Double, fSeed :: Integer, fLimitTrain :: Integer, fShuffle :: Bool
  , fInit :: Maybe FilePath, fLoad :: Maybe FilePath, fSave :: Maybe FilePath, fPredict :: Maybe FilePath
  }

-- | Parse the command line (row name for the progress line, description for --help), resolve
-- the data root from $MNIST_DATA_DIR, and print the progress line @stage=start@.
parseConfig :: String -> String -> IO Config
parseConfig row description = do
  argv <- getArgs
  envDir <- lookupEnv "MNIST_DATA_DIR"
  name <- getProgName
  cfg <- parseArgs name description argv envDir
  progressStart row
  pure cfg

-- | Parse and check flags: program name and description (for --help), the arguments and
-- $MNIST_DATA_DIR. Throws 'UsageError'; --help prints usage and exits 0.
parseArgs :: String -> String -> [String] -> Maybe String -> IO Config
parseArgs progName description argv envDir = do
  let info = O.info (O.helper <*> flagsParser) (O.fullDesc <> O.progDesc description)
  flags <- case O.execParserPure O.defaultPrefs info argv of
    O.Success flags -> pure flags
    O.Failure failure -> case O.renderFailure failure progName of
      (text, ExitSuccess) -> putStrLn text >> exitSuccess
      (text, _) -> usageError (cleanOptparse (firstLine text) ++ " (see --help)")
    O.CompletionInvoked _ -> usageError "shell completion is not supported"
  case (fInit flags, fLoad flags) of
    (Just _, Just _) -> usageError "--init and --load are the same option; give only one"
    _ -> pure ()
  when (fPredict flags /= Nothing && fLoad flags == Nothing) $
    usageError "--predict needs the weights to classify with: add --load FILE"
  forM_ (fSave flags) $ \path -> do
    let parent = takeDirectory path
    ok <- doesDirectoryExist parent
    unless ok $ usageError ("--save: directory " ++ parent ++ " does not exist")
  pure Config
    { dataset = fDataset flags
    , dataDir = case (fDataDir flags, envDir) of
        (Just dir, _) -> dir
        (Nothing, Just dir) | not (null dir) -> dir
        _ -> "data"
    , epochs = fromInteger (fEpochs flags), batchSize = fromInteger (fBatchSize flags)
    , lr = fLr flags, momentum = fMomentum flags, seed = fromInteger (fSeed flags)
    , limitTrain = fromInteger (fLimitTrain flags), shuffle = fShuffle flags
    , initFile = maybe (fLoad flags) Just (fInit flags)
    , saveFile = fSave flags, predictFile = fPredict flags
    }
  where
    firstLine text = case filter (not . null) (lines text) of (l : _) -> l; [] -> "bad arguments"
    -- optparse writes "option --lr: --lr must be ..."; our messages already name the flag
    cleanOptparse line = case break (== ':') line of
      ('o' : 'p' : 't' : 'i' : 'o' : 'n' : ' ' : _, ':' : ' ' : msg@('-' : '-' : _)) -> msg
      _ -> line

flagsParser :: O.Parser Flags
flagsParser = Flags
  <$> O.option (choice "--dataset" ["mnist", "fashion-mnist"])
        (O.long "dataset" <> O.metavar "mnist|fashion-mnist" <> O.value "mnist" <> O.help "which dataset to train on (default: mnist)")
  <*> O.optional (O.strOption (O.long "data-dir" <> O.metavar "DIR"
        <> O.help "data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)"))
  <*> O.option (intIn "--epochs" 0 Nothing)
        (O.long "epochs" <> O.metavar "N" <> O.value 5 <> O.help "passes over the training set; 0 only evaluates (default: 5)")
  <*> O.option (intIn "--batch-size" 1 Nothing)
        (O.long "batch-size" <> O.metavar "N" <> O.value 128 <> O.help "examples per SGD step (default: 128)")
  <*> O.option (numberIn "--lr" (> 0) "a number > 0")
        (O.long "lr" <> O.metavar "X" <> O.value 0.05 <> O.help "learning rate (default: 0.05)")
  <*> O.option (numberIn "--momentum" (\m -> 0 <= m && m < 1) "a number in [0, 1)")
        (O.long "momentum" <> O.metavar "X" <> O.value 0.9 <> O.help "SGD momentum (default: 0.9)")
  <*> O.option (intIn "--seed" 0 (Just 4294967295))
        (O.long "seed" <> O.metavar "N" <> O.value 0 <> O.help "seeds initialisation and shuffling (default: 0)")
  <*> O.option (intIn "--limit-train" 1 (Just 50000))
        (O.long "limit-train" <> O.metavar "N" <> O.value 50000 <> O.help "train on the first N training examples only (default: all 50000)")
  <*> (not <$> O.switch (O.long "no-shuffle" <> O.help "keep the training examples in file order every epoch"))
  <*> O.optional (O.strOption (O.long "init" <> O.metavar "FILE" <> O.help "start from these safetensors weights instead of random ones"))
  <*> O.optional (O.strOption (O.long "load" <> O.metavar "FILE" <> O.help "same as --init; with --epochs 0 only evaluates"))
  <*> O.optional (O.strOption (O.long "save" <> O.metavar "FILE" <> O.help "write the trained weights to this safetensors file"))
  <*> O.optional (O.strOption (O.long "predict" <> O.metavar "IDX_FILE"
        <> O.help "classify the images of this IDX file (.gz or plain) with the --load weights instead of training"))

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

-- | A finite number in plain decimal notation (0.05, -.5, 5., 5e-2); Nothing for anything else
-- (inf, nan, 0x10, 1_0, an empty string).
parseDecimal :: String -> Maybe Double
parseDecimal text = do
  let (sign, rest) = case text of ('-' : r) -> ("-", r); ('+' : r) -> ("", r); r -> ("", r)
      (whole, rest1) = span isDigit rest
      (frac, rest2) = case rest1 of ('.' : r) -> span isDigit r; r -> ("", r)
  exponent' <- case rest2 of
    "" -> Just "0"
    (e : r) | e `elem` "eE" -> case r of
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
