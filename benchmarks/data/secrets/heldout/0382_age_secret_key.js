module.exports = {
  sopsagekey: "AGE-SECRET-KEY-1S8DQYC8SEEDNT3VG7RJ28SRU7R8HFAYSEJQHFMZ58LTJEAX5RHXYSZUNFP",
  bucket: "assets-prod-7421",
  port: "8080",
};
