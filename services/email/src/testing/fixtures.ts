export { createSnsTestCertificate, signSnsMessage } from '../bounces/testing/sns-signer';
export { sesBounceMessage } from '../bounces/testing/ses-samples';
