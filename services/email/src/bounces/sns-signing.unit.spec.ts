import { snsStringToSign } from './sns-signing';

// Written out by hand from AWS's field list, so a reordering in the shared code (which the
// signer and the verifier would agree on) still fails here.
describe('the SNS string to sign', () => {
  it('of a notification: Message, MessageId, Subject when present, Timestamp, TopicArn, Type', () => {
    const fields = {
      Type: 'Notification',
      MessageId: 'id',
      TopicArn: 'arn',
      Message: 'm\nx',
      Timestamp: 't',
    } as const;
    expect(snsStringToSign(fields)).toBe(
      'Message\nm\nx\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n',
    );
    expect(snsStringToSign({ ...fields, Subject: 's' })).toBe(
      'Message\nm\nx\nMessageId\nid\nSubject\ns\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n',
    );
  });

  it('of a confirmation: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type; never Subject', () => {
    expect(
      snsStringToSign({
        Type: 'SubscriptionConfirmation',
        MessageId: 'id',
        TopicArn: 'arn',
        Message: 'm',
        Timestamp: 't',
        Token: 'tok',
        SubscribeURL: 'u',
        Subject: 'ignored',
      }),
    ).toBe(
      'Message\nm\nMessageId\nid\nSubscribeURL\nu\nTimestamp\nt\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n',
    );
    expect(() =>
      snsStringToSign({
        Type: 'UnsubscribeConfirmation',
        MessageId: 'id',
        TopicArn: 'arn',
        Message: 'm',
        Timestamp: 't',
      }),
    ).toThrow(/Token|SubscribeURL/);
  });
});
