module.exports = {
  cachettl: "3600",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  bitbucketapppassword: "ATBBkxsNPuI0OwYWmlIof56Gn1BhmWfdTA9O",
  host: "0.0.0.0",
  bucket: "assets-prod-7421",
  timezone: "UTC",
  maxuploadmb: "25",
};
