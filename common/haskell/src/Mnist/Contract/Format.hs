-- | How the contract writes numbers and messages: fixed decimals for losses, accuracies,
-- probabilities and seconds, Python's float repr for the config line, one-line messages.
module Mnist.Contract.Format
  ( fixed
  , pyRepr
  , oneLine
  ) where

import Numeric (floatToDigits)

-- | A number with a fixed count of decimals: x·10^decimals rounded to the nearest integer
-- (ties to even); @nan@, @inf@ and @-inf@ as Python writes them.
fixed :: Int -> Double -> String
fixed decimals x
  | isNaN x = "nan"
  | isInfinite x = if x > 0 then "inf" else "-inf"
  | otherwise =
      let scaled = round (abs x * 10 ^ decimals) :: Integer
          (whole, frac) = scaled `divMod` (10 ^ decimals)
          fracText = show frac
       in (if x < 0 && scaled /= 0 then "-" else "") ++ show whole ++ "."
            ++ replicate (decimals - length fracText) '0' ++ fracText

-- | A float as Python's repr writes it (0.05, 0.9, 1e-05, 1000000.0), so every row's config
-- line reads the same.
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

-- | A message on one line (exceptions' own texts may span several).
oneLine :: String -> String
oneLine = unwords . lines
