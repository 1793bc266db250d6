-- Reserved for another branch's migration 3 (issue 18): delete this file
-- when merging that branch, whose 0003 takes its place.
SELECT 1;
